// Docs: docs/live.md#media — what a page receives, from two getStats() snapshots of its
// subscriber PeerConnection: the `down` part of its `quality` report, from which the server
// chooses the site's layers (issue 12), and how long the main picture has been still. Pure:
// no WebRTC, no DOM (tests/js/linkstats.test.mjs). Field names are the W3C
// webrtc-stats ones (RTCInboundRtpStreamStats, RTCIceCandidatePairStats).

// A snapshot as a plain array of stats objects: an RTCStatsReport (maplike), a Map, an array
// or an object keyed by id all do.
export function reports(snapshot) {
  if (!snapshot) return [];
  if (Array.isArray(snapshot)) return snapshot;
  if (typeof snapshot.values === "function") return [...snapshot.values()];
  return Object.values(snapshot);
}

const finite = (x) => (typeof x === "number" && Number.isFinite(x) ? x : null);
const delta = (cur, prev, key) => {
  const a = finite(cur?.[key]);
  const b = finite(prev?.[key]);
  return a == null || b == null ? null : Math.max(0, a - b);
};
const kindOf = (r) => r.kind ?? r.mediaType;
const round = (x, digits = 0) => (x == null ? null : Math.round(x * 10 ** digits) / 10 ** digits);

// The candidate pair in use: the transport's selected one, else the nominated one.
function selectedPair(list) {
  const byId = new Map(list.map((r) => [r.id, r]));
  for (const r of list) {
    if (r.type === "transport" && r.selectedCandidatePairId && byId.has(r.selectedCandidatePairId)) return byId.get(r.selectedCandidatePairId);
  }
  return list.find((r) => r.type === "candidate-pair" && r.nominated && r.state === "succeeded") ?? list.find((r) => r.type === "candidate-pair" && r.nominated) ?? null;
}

// The round trip of the pair in use, in ms (null: not measured yet).
export function roundTrip(snapshot) {
  const rtt = finite(selectedPair(reports(snapshot))?.currentRoundTripTime);
  return rtt == null ? null : round(rtt * 1000);
}

// What the browser thinks it may send on the pair in use, in kbit/s (null: not given).
export function availableOutgoing(snapshot) {
  const bps = finite(selectedPair(reports(snapshot))?.availableOutgoingBitrate);
  return bps == null ? null : round(bps / 1000);
}

export const EMPTY_DOWN = Object.freeze({ kbps: null, available: null, loss: null, jitter: null, fps: null, frozen_ms: null, audio_concealed: null });

// The `down` object of the quality report (docs/live.md, issue 12). `prev` and `cur` are two
// snapshots `intervalMs` apart; `main` names the main picture's inbound video by `mid`
// (subscriber m-line) or `trackId` (its track's id). Every value is a finite number or null.
export function downStats(prev, cur, intervalMs, { mainMid = null, mainTrackId = null } = {}) {
  if (!prev || !cur || !(intervalMs > 0)) return { ...EMPTY_DOWN };
  const before = new Map(reports(prev).map((r) => [r.id, r]));
  const now = reports(cur);
  const inbound = now.filter((r) => r.type === "inbound-rtp");
  const video = inbound.filter((r) => kindOf(r) === "video");
  const audio = inbound.filter((r) => kindOf(r) === "audio");
  const seconds = intervalMs / 1000;

  let bytes = null;
  for (const r of inbound) {
    const d = delta(r, before.get(r.id), "bytesReceived");
    if (d != null) bytes = (bytes ?? 0) + d;
  }
  const kbps = bytes == null ? null : round((bytes * 8) / intervalMs);

  const availableBps = finite(selectedPair(now)?.availableIncomingBitrate);
  const available = availableBps == null ? null : round(availableBps / 1000);

  // Loss over every inbound video in the interval: lost / (lost + received).
  let lost = 0;
  let received = 0;
  let counted = false;
  for (const r of video) {
    const p = before.get(r.id);
    const l = delta(r, p, "packetsLost");
    const g = delta(r, p, "packetsReceived");
    if (l == null || g == null) continue;
    counted = true;
    lost += l;
    received += g;
  }
  const loss = counted && lost + received > 0 ? round((lost * 100) / (lost + received), 1) : counted ? 0 : null;

  let jitter = null;
  for (const r of video) {
    const j = finite(r.jitter);
    if (j != null) jitter = Math.max(jitter ?? 0, j * 1000);
  }

  // The main picture: frames decoded per second, and how much of the interval it stood still.
  const main =
    (mainMid != null && video.find((r) => r.mid === String(mainMid))) ||
    (mainTrackId != null && video.find((r) => r.trackIdentifier === mainTrackId)) ||
    (mainMid == null && mainTrackId == null && video.length === 1 ? video[0] : null) ||
    null;
  let fps = null;
  let frozen = null;
  if (main) {
    const p = before.get(main.id);
    const frames = delta(main, p, "framesDecoded");
    // A stream new in this interval has nothing to compare with yet: null.
    if (frames != null) {
      fps = round(frames / seconds, 1);
      if (frames === 0) frozen = intervalMs;
      else {
        // Chromium counts a freeze once it has ended (totalFreezesDuration, seconds).
        const freeze = delta(main, p, "totalFreezesDuration");
        frozen = freeze == null ? 0 : Math.min(intervalMs, freeze * 1000);
      }
    }
  }

  // Audio concealment: concealed / received samples over every inbound audio.
  let concealed = 0;
  let total = 0;
  for (const r of audio) {
    const p = before.get(r.id);
    const c = delta(r, p, "concealedSamples");
    const t = delta(r, p, "totalSamplesReceived");
    if (c == null || t == null) continue;
    concealed += c;
    total += t;
  }
  const audioConcealed = total > 0 ? round(Math.min(1, concealed / total), 4) : null;

  return {
    kbps,
    available,
    loss,
    jitter: round(jitter),
    fps,
    frozen_ms: round(frozen),
    audio_concealed: audioConcealed,
  };
}

// How long the main picture has stood still and expected sound has been missing, carried
// from one report to the next: {stillMs, silentMs}. `audioExpected`: the page subscribes
// to someone's sound now. A report without a main picture (fps null) says nothing of it.
export const NO_SOUND_CONCEALED = 0.5;

export function follow(prev, down, intervalMs, { audioExpected = false } = {}) {
  const was = prev || { stillMs: 0, silentMs: 0 };
  const d = down || EMPTY_DOWN;
  let stillMs = 0;
  if (d.frozen_ms != null) {
    // Fully still: it adds up; moving again: what is left is the still tail, if any.
    stillMs = d.frozen_ms >= intervalMs * 0.95 ? was.stillMs + intervalMs : 0;
  }
  let silentMs = 0;
  if (audioExpected) {
    const missing = d.audio_concealed == null || d.audio_concealed >= NO_SOUND_CONCEALED;
    silentMs = missing ? was.silentMs + intervalMs : 0;
  }
  return { stillMs, silentMs };
}
