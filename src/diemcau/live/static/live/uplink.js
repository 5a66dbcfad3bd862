// Docs: docs/live.md#media — the site's own upload (issue 12, item 3): on a weak uplink the
// page stops sending its top simulcast layer (janus.js sends three: h ≤ 900 kbit/s at full
// size, m ≤ 300 at half, l ≤ 100 at a quarter), so what it can carry gets through, and sends
// it again once the uplink has been clean for a while. Janus's subscriber `fallback` moves
// whoever received the top layer to the next one within 250 ms. `uplinkCap` is the pure
// decision (tests/js/uplink.test.mjs); `capSender` the one RTCRtpSender.setParameters call.

export const POOR_LOSS = 5; // % lost of what we send (Janus's receiver reports)
export const POOR_AVAILABLE = 700; // kbit/s the browser estimates it may send: below the top layer's 900
export const CLEAN_LOSS = 2;
export const CLEAN_MS = 15000; // clean this long before the top layer is tried again
export const MAX_CLEAN_MS = 120000;
export const RELAPSE_MS = 60000; // poor again this soon after a restore: wait twice as long next time
// The browser's estimate grows only a little above what it sends: right after the top layer
// is back it is still low, and while capped it cannot show room for the top layer. So it
// counts only this long after a restore, and while capped only when it falls below what is
// sent (congestion); loss counts always.
export const GRACE_MS = 6000;

// `sample`: {loss (%), kbps (sent), available (kbit/s, Chromium's availableOutgoingBitrate)},
// each a number or null; `now` in ms. Returns the new state {capped, cleanSince, holdMs,
// restoredAt}; `prev` null: not capped.
export function uplinkCap(prev, { loss = null, kbps = null, available = null } = {}, now) {
  const s = prev ? { ...prev } : { capped: false, cleanSince: null, holdMs: CLEAN_MS, restoredAt: null };
  const lossy = loss != null && loss > POOR_LOSS;
  if (!s.capped) {
    const settled = s.restoredAt == null || now - s.restoredAt >= GRACE_MS;
    // Short of room for the top layer, and sending about all of it: the link, not a quiet
    // picture or a small camera, holds the rate down.
    const limited = available != null && available < POOR_AVAILABLE && (kbps == null || kbps >= available * 0.8);
    const poor = lossy || (settled && limited);
    if (poor) {
      const relapse = s.restoredAt != null && now - s.restoredAt < RELAPSE_MS;
      s.holdMs = relapse ? Math.min(MAX_CLEAN_MS, s.holdMs * 2) : CLEAN_MS;
      s.capped = true;
      s.cleanSince = null;
    }
    return s;
  }
  const congested = available != null && kbps != null && available < kbps * 0.9;
  const clean = !lossy && !congested && (loss == null || loss <= CLEAN_LOSS);
  if (!clean) {
    s.cleanSince = null;
    return s;
  }
  if (s.cleanSince == null) s.cleanSince = now;
  if (now - s.cleanSince >= s.holdMs) {
    s.capped = false;
    s.cleanSince = null;
    s.restoredAt = now;
  }
  return s;
}

// The top encoding: rid "h" (janus.js), else the one at full size.
export function topEncoding(encodings) {
  if (!encodings?.length || encodings.length < 2) return -1;
  const h = encodings.findIndex((e) => e.rid === "h");
  if (h >= 0) return h;
  let best = 0;
  encodings.forEach((e, i) => {
    if ((e.scaleResolutionDownBy ?? 1) < (encodings[best].scaleResolutionDownBy ?? 1)) best = i;
  });
  return best;
}

// Turns the top simulcast encoding off (capped) or on. Resolves true when the sender now
// does what was asked (also when there was nothing to change).
export async function capSender(sender, capped) {
  const params = sender.getParameters();
  const i = topEncoding(params.encodings);
  if (i < 0) return true;
  if (params.encodings[i].active === !capped) return true;
  params.encodings[i].active = !capped;
  await sender.setParameters(params);
  return true;
}
