// Docs: docs/live.md#media-policy — the subscription planner: what one page's subscriber
// must change to receive what the policy wants (policy.js), given what is published and
// what it receives now. Pure functions, no Janus and no DOM: media.js carries the plan out
// (tests/js/plan.test.mjs).

// The streams to receive now: wanted ∩ actually published.
// want: Map feed -> {audio, video, substream}; publishers: Map feed -> [{mid, type}].
// Returns Map "feed:mid" -> {feed, mid, type, substream}.
export function targets(want, publishers) {
  const out = new Map();
  for (const [feed, w] of want) {
    for (const s of publishers.get(feed) || []) {
      if ((s.type === "audio" && w.audio) || (s.type === "video" && w.video)) {
        out.set(`${feed}:${s.mid}`, { feed, mid: s.mid, type: s.type, substream: w.substream });
      }
    }
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

// Simulcast layers to ask for: video m-lines whose wanted substream differs from the one
// last asked (`asked`: Map subMid -> substream). Returns [{mid, substream}].
export function layers(wantedTargets, subscribed, asked) {
  const out = [];
  for (const [mid, info] of subscribed) {
    if (info.type !== "video") continue;
    const t = wantedTargets.get(`${info.feed}:${info.feedMid}`);
    if (t && asked.get(mid) !== t.substream) out.push({ mid, substream: t.substream });
  }
  return out;
}

function splitKey(key) {
  const i = key.indexOf(":");
  return [Number(key.slice(0, i)), key.slice(i + 1)];
}
