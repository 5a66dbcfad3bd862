// Docs: docs/live.md#media-policy — static/live/plan.js: what a page's subscriber changes to
// receive what the policy wants. Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { layers, plan, targets } from "../../src/diemcau/live/static/live/plan.js";

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

  test("asks for the wanted layer once, not again", () => {
    const t = targets(want([[31, { audio: true, substream: 2 }]]), publishers);
    assert.deepEqual(layers(t, now, new Map()), [{ mid: "v", substream: 2 }]);
    assert.deepEqual(layers(t, now, new Map([["v", 2]])), []);
  });

  test("enlarging a tile on the wall asks for the high layer, shrinking it for the low", () => {
    const low = targets(want([[31, { substream: 0 }]]), publishers);
    assert.deepEqual(layers(low, now, new Map([["v", 2]])), [{ mid: "v", substream: 0 }]);
  });
});
