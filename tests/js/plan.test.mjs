// Docs: docs/live.md#media-policy — static/live/plan.js: what a page's subscriber changes to
// receive what the policy wants. Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { layers, plan, targets, withLink } from "../../src/diemcau/live/static/live/plan.js";

// Site 3's camera (feed 31) publishes audio mid 0 and video mid 1; site 4's (41) likewise.
const publishers = new Map([
  [31, [{ mid: "0", type: "audio" }, { mid: "1", type: "video" }]],
  [41, [{ mid: "0", type: "audio" }, { mid: "1", type: "video" }]],
  [52, [{ mid: "0", type: "video" }]], // site 5's shared screen
]);
const want = (entries) => new Map(entries.map(([feed, w]) => [feed, { audio: false, video: true, substream: 0, ...w }]));

describe("targets", () => {
  test("only what is both wanted and published", () => {
    const t = targets(want([[31, { audio: true, substream: 2 }], [99, {}]]), publishers);
    assert.deepEqual([...t.keys()], ["31:0", "31:1"]);
    assert.equal(t.get("31:1").substream, 2);
  });

  test("video only when audio is not wanted (a closed mic)", () => {
    assert.deepEqual([...targets(want([[41, {}]]), publishers).keys()], ["41:1"]);
  });

  test("nothing wanted, nothing to receive", () => {
    assert.equal(targets(new Map(), publishers).size, 0);
  });
});

describe("plan", () => {
  test("a first subscription subscribes everything, switches nothing", () => {
    const p = plan(targets(want([[31, { audio: true }]]), publishers), new Map(), { hasSubscriber: false });
    assert.deepEqual(p.subscribe, [{ feed: 31, mid: "0" }, { feed: 31, mid: "1" }]);
    assert.deepEqual(p.pairs, []);
    assert.deepEqual(p.unsubscribe, []);
  });

  test("the main source moves from 3 to 4: the same m-lines switch, nothing renegotiated", () => {
    const now = new Map([
      ["a", { feed: 31, feedMid: "0", type: "audio" }],
      ["v", { feed: 31, feedMid: "1", type: "video" }],
    ]);
    const p = plan(targets(want([[41, { audio: true }]]), publishers), now);
    assert.deepEqual(p.pairs, [
      { feed: 41, mid: "0", sub_mid: "a" },
      { feed: 41, mid: "1", sub_mid: "v" },
    ]);
    assert.deepEqual(p.afterSwitch, { subscribe: [], unsubscribe: [] });
    // Should the switch fail, the update does it the long way.
    assert.deepEqual(p.subscribe, [{ feed: 41, mid: "0" }, { feed: 41, mid: "1" }]);
    assert.deepEqual(p.unsubscribe, [{ feed: 31, mid: "0" }, { feed: 31, mid: "1" }]);
  });

  test("a switch pairs by type only: a new audio never takes a video m-line", () => {
    const now = new Map([["v", { feed: 31, feedMid: "1", type: "video" }]]);
    const p = plan(targets(want([[41, { audio: true }]]), publishers), now);
    assert.deepEqual(p.pairs, [{ feed: 41, mid: "1", sub_mid: "v" }]);
    assert.deepEqual(p.afterSwitch.subscribe, [{ feed: 41, mid: "0" }]);
    assert.deepEqual(p.afterSwitch.unsubscribe, []);
  });

  test("a stream no longer wanted is dropped; one still wanted is kept", () => {
    const now = new Map([
      ["v", { feed: 31, feedMid: "1", type: "video" }],
      ["s", { feed: 52, feedMid: "0", type: "video" }],
    ]);
    const p = plan(targets(want([[31, {}]]), publishers), now);
    assert.deepEqual(p.pairs, []);
    assert.deepEqual(p.subscribe, []);
    assert.deepEqual(p.unsubscribe, [{ feed: 52, mid: "0" }]);
  });

  test("in step already: nothing to do", () => {
    const now = new Map([["v", { feed: 31, feedMid: "1", type: "video" }]]);
    const p = plan(targets(want([[31, {}]]), publishers), now);
    assert.deepEqual([p.pairs, p.subscribe, p.unsubscribe], [[], [], []]);
  });
});

describe("layers", () => {
  const now = new Map([
    ["a", { feed: 31, feedMid: "0", type: "audio" }],
    ["v", { feed: 31, feedMid: "1", type: "video" }],
  ]);
  const ask = (list) => new Map(list.map((c) => [c.mid, c.key]));
  const janus = (list) => list.map(({ key, ...stream }) => stream);

  test("asks for the wanted layer once, not again", () => {
    const t = targets(want([[31, { audio: true, substream: 2 }]]), publishers);
    const first = layers(t, now, new Map());
    assert.deepEqual(janus(first), [{ mid: "v", substream: 2, temporal: 2 }]);
    assert.deepEqual(layers(t, now, ask(first)), []);
  });

  test("enlarging a tile on the wall asks for the high layer, shrinking it for the low", () => {
    const high = layers(targets(want([[31, { substream: 2 }]]), publishers), now, new Map());
    const low = targets(want([[31, { substream: 0 }]]), publishers);
    assert.deepEqual(janus(layers(low, now, ask(high))), [{ mid: "v", substream: 0, temporal: 2 }]);
  });

  test("an m-line moved to another feed is asked again, even for the same layer", () => {
    const t31 = targets(want([[31, { substream: 2 }]]), publishers);
    const asked = ask(layers(t31, now, new Map()));
    const moved = new Map([["v", { feed: 41, feedMid: "1", type: "video" }]]);
    const t41 = targets(want([[41, { substream: 2 }]]), publishers);
    assert.deepEqual(janus(layers(t41, moved, asked)), [{ mid: "v", substream: 2, temporal: 2 }]);
  });
});

describe("withLink: the site's own entry in `links`", () => {
  const now = new Map([
    ["a", { feed: 31, feedMid: "0", type: "audio" }],
    ["v", { feed: 31, feedMid: "1", type: "video" }],
    ["s", { feed: 52, feedMid: "0", type: "video" }],
  ]);
  // A site page: the main source (31) with its sound, the shared screen (52), both high.
  const policy = want([[31, { audio: true, substream: 2 }], [52, { substream: 2 }]]);
  const configure = (link, asked = new Map()) =>
    layers(targets(withLink(policy, link), publishers), now, asked).map(({ key, ...stream }) => stream);

  test("no entry: the high layer, every frame, sending", () => {
    assert.equal(withLink(policy, null), policy);
    assert.deepEqual(configure(null), [
      { mid: "v", substream: 2, temporal: 2 },
      { mid: "s", substream: 2, temporal: 2 },
    ]);
  });

  test("high layer at half rate: the temporal layer drops first", () => {
    const link = { layer: "high_half_rate", substream: 2, temporal: 1, video: true, by: "auto" };
    assert.deepEqual(configure(link)[0], { mid: "v", substream: 2, temporal: 1 });
  });

  test("the low layer goes to every video the site receives, main source and screen", () => {
    const link = { layer: "low", substream: 0, temporal: 2, video: true, by: "auto" };
    assert.deepEqual(configure(link), [
      { mid: "v", substream: 0, temporal: 2 },
      { mid: "s", substream: 0, temporal: 2 },
    ]);
  });

  test("sound only pauses the video m-lines (send false) and keeps them and the audio subscribed", () => {
    const link = { layer: "audio", substream: 0, temporal: 0, video: false, by: "auto" };
    const t = targets(withLink(policy, link), publishers);
    assert.deepEqual([...t.keys()], ["31:0", "31:1", "52:0"]);
    assert.equal(t.get("31:0").send, true); // the audio is never paused
    const p = plan(t, now);
    assert.deepEqual([p.subscribe, p.unsubscribe, p.pairs], [[], [], []]); // nothing renegotiated
    assert.deepEqual(configure(link).map((c) => c.send), [false, false]);
  });

  test("video back: the paused m-lines are resumed", () => {
    const paused = { layer: "audio", substream: 0, temporal: 0, video: false, by: "auto" };
    const back = { layer: "low", substream: 0, temporal: 2, video: true, by: "auto" };
    const asked = new Map(layers(targets(withLink(policy, paused), publishers), now, new Map()).map((c) => [c.mid, c.key]));
    assert.deepEqual(configure(back, asked), [
      { mid: "v", substream: 0, temporal: 2, send: true },
      { mid: "s", substream: 0, temporal: 2, send: true },
    ]);
  });

  test("send only to pause or resume: Janus asks for a keyframe on every send:true", () => {
    const low = { layer: "low", substream: 0, temporal: 2, video: true, by: "auto" };
    const first = layers(targets(withLink(policy, null), publishers), now, new Map());
    assert.ok(first.every((c) => !("send" in c)));
    const asked = new Map(first.map((c) => [c.mid, c.key]));
    assert.ok(configure(low, asked).every((c) => !("send" in c)));
    // Paused, then the m-line switched to another feed (Janus resets send): no resume needed.
    const paused = { layer: "audio", substream: 0, temporal: 0, video: false, by: "auto" };
    const pausedAsk = new Map(layers(targets(withLink(policy, paused), publishers), now, new Map()).map((c) => [c.mid, c.key]));
    const moved = new Map([["v", { feed: 41, feedMid: "1", type: "video" }]]);
    const to41 = want([[41, { audio: true, substream: 2 }]]);
    const again = layers(targets(withLink(to41, paused), publishers), moved, pausedAsk);
    assert.deepEqual(again.map(({ key, ...c }) => c), [{ mid: "v", substream: 0, temporal: 0, send: false }]);
  });

  test("never above what the policy asked; nonsense layers are ignored", () => {
    const lowWall = want([[31, { substream: 0 }]]);
    const high = { layer: "high", substream: 2, temporal: 2, video: true, by: "pinned" };
    assert.equal(withLink(lowWall, high).get(31).substream, 0);
    const bad = { layer: "low", substream: 7, temporal: "x", video: true };
    assert.deepEqual(withLink(policy, bad).get(31), { ...policy.get(31), temporal: 2, send: true });
  });
});
