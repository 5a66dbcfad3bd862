// Docs: docs/live.md#media-policy — the subscription planner: what one page's subscriber
// must change to receive what the policy wants (policy.js), given what is published and
// what it receives now. Pure functions, no Janus and no DOM: media.js carries the plan out
// (tests/js/plan.test.mjs).

// The streams to receive now: wanted ∩ actually published.
// want: Map feed -> {audio, video, substream, temporal?, send?}; publishers: Map feed ->
// [{mid, type}]. Returns Map "feed:mid" -> {feed, mid, type, substream, temporal, send}.
// `send` false keeps a video m-line subscribed but paused (sound only, issue 12).
export function targets(want, publishers) {
  const out = new Map();
  for (const [feed, w] of want) {
    for (const s of publishers.get(feed) || []) {
      if ((s.type === "audio" && w.audio) || (s.type === "video" && w.video)) {
        out.set(`${feed}:${s.mid}`, {
          feed,
          mid: s.mid,
          type: s.type,
          substream: w.substream,
          temporal: w.temporal ?? 2,
          send: s.type === "audio" || w.send !== false, // sound is never paused
        });
      }
    }
  }
  return out;
}

const layerIndex = (x) => (Number.isInteger(x) && x >= 0 && x <= 2 ? x : null);

// A site page's own entry in the state's `links` (the server's choice for its link, issue
// 12) applied to what the policy wants: every video it receives (main source, floor,
// screen) at the entry's substream and temporal layer — never above what the policy asked —
// and paused (`send` false) when the entry says no video. No entry: unchanged (high layer).
export function withLink(want, link) {
  if (!link) return want;
  const substream = layerIndex(link.substream);
  const temporal = layerIndex(link.temporal);
  const out = new Map();
  for (const [feed, w] of want) {
    if (!w.video) {
      out.set(feed, w);
      continue;
    }
    out.set(feed, {
      ...w,
      substream: substream == null ? w.substream : Math.min(w.substream, substream),
      temporal: temporal ?? w.temporal ?? 2,
      send: link.video !== false,
    });
  }
  return out;
}

// What to change. subscribed: Map subMid -> {feed, feedMid, type} (our m-lines now).
// Returns {pairs, subscribe, unsubscribe, afterSwitch}:
//   pairs — VideoRoom `switch` moves of an existing m-line to a new feed of the same type
//     (the floor or main source moved: no renegotiation, the picture comes with a keyframe);
//   subscribe / unsubscribe — the `update` to send when there is no switch (or it failed);
//   afterSwitch — the `update` still needed once the switch succeeded.
// Without a subscriber yet (`hasSubscriber` false) nothing can be switched.
export function plan(wantedTargets, subscribed, { hasSubscriber = true } = {}) {
  const current = new Map();
  for (const [subMid, info] of subscribed) current.set(`${info.feed}:${info.feedMid}`, subMid);
  const subscribe = [...wantedTargets.entries()]
    .filter(([key]) => !current.has(key))
    .map(([, t]) => ({ feed: t.feed, mid: t.mid, type: t.type }));
  const unsubscribe = [...current.entries()]
    .filter(([key]) => !wantedTargets.has(key))
    .map(([key, subMid]) => {
      const [feed, mid] = splitKey(key);
      return { feed, mid, subMid, type: subscribed.get(subMid)?.type };
    });
  const pairs = [];
  const free = [...unsubscribe];
  if (hasSubscriber) {
    for (const want of subscribe) {
      const i = free.findIndex((u) => u.type === want.type);
      if (i >= 0) pairs.push({ feed: want.feed, mid: want.mid, sub_mid: free.splice(i, 1)[0].subMid });
    }
  }
  const switched = (w) => pairs.some((p) => p.feed === w.feed && p.mid === w.mid);
  const strip = (list) => list.map(({ feed, mid }) => ({ feed, mid }));
  return {
    pairs,
    subscribe: strip(subscribe),
    unsubscribe: strip(unsubscribe),
    afterSwitch: { subscribe: strip(subscribe.filter((w) => !switched(w))), unsubscribe: strip(free) },
  };
}

// The VideoRoom subscriber `configure` streams to send: video m-lines whose wanted layer
// (substream, temporal) or pause (`send`) differs from what was last asked for them.
// `asked`: Map subMid -> the key layerKey() gave when it was last asked; it names the feed
// too, so an m-line moved to another feed (switch, update) is asked again. Returns
// [{mid, substream, temporal, send?, key}] — `key` to remember in `asked`, not for Janus.
// `send` is there only to pause (false) or to resume a paused m-line (true): Janus asks the
// publisher for a keyframe on every `send: true` (janus_videoroom.c, configure), a cost a
// weak link does not need twice. A `switch` resumes by itself (it resets send and layers).
export function layers(wantedTargets, subscribed, asked) {
  const out = [];
  for (const [mid, info] of subscribed) {
    if (info.type !== "video") continue;
    const t = wantedTargets.get(`${info.feed}:${info.feedMid}`);
    if (!t) continue;
    const temporal = t.temporal ?? 2;
    const send = t.send !== false;
    const key = layerKey(info, t.substream, temporal, send);
    const before = asked.get(mid);
    if (before === key) continue;
    const stream = { mid, substream: t.substream, temporal };
    const wasPaused = before !== undefined && before.startsWith(`${info.feed}:${info.feedMid}/`) && before.endsWith("/off");
    if (!send || wasPaused) stream.send = send;
    out.push({ ...stream, key });
  }
  return out;
}

export function layerKey(info, substream, temporal, send) {
  return `${info.feed}:${info.feedMid}/${substream}/${temporal}/${send ? "on" : "off"}`;
}

function splitKey(key) {
  const i = key.indexOf(":");
  return [Number(key.slice(0, i)), key.slice(i + 1)];
}
