// Docs: docs/live.md#media-policy — static/live/policy.js: what each page subscribes to,
// mirroring diemcau/live/media_policy.py. Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CAMERA, SCREEN, feedOf, siteOfFeed, wanted } from "../../src/diemcau/live/static/live/policy.js";

const sites = [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }];
const base = { sites, main_source: 1, floor: null, screen: null, mics: { open: [1] } };
const site = (id) => ({ site: id, hq: false });
const hq = { site: 1, hq: true };

describe("feed ids", () => {
  test("site * 10 + slot, and back", () => {
    assert.equal(feedOf(7), 71);
    assert.equal(feedOf(7, SCREEN), 72);
    assert.equal(siteOfFeed(feedOf(12, CAMERA)), 12);
  });
});

describe("a site's page", () => {
  test("receives the main source sharp, with its audio when its mic is open", () => {
    const w = wanted(base, site(3));
    assert.deepEqual([...w.keys()], [feedOf(1)]);
    assert.deepEqual(w.get(feedOf(1)), { audio: true, video: true, substream: 2 });
  });

  test("and the floor beside it", () => {
    const w = wanted({ ...base, floor: { site: 2 }, mics: { open: [1, 2] } }, site(3));
    assert.deepEqual(w.get(feedOf(2)), { audio: true, video: true, substream: 2 });
  });

  test("never itself, not even its own screen", () => {
    const w = wanted({ ...base, floor: { site: 3 }, screen: { site: 3 }, mics: { open: [3] } }, site(3));
    assert.ok(!w.has(feedOf(3)) && !w.has(feedOf(3, SCREEN)));
  });

  test("another site's shared screen, sharp", () => {
    const w = wanted({ ...base, screen: { site: 2 } }, site(3));
    assert.equal(w.get(feedOf(2, SCREEN)).substream, 2);
  });

  test("an open mic off screen is heard, not seen", () => {
    const w = wanted({ ...base, mics: { open: [1, 4] } }, site(3));
    assert.deepEqual(w.get(feedOf(4)), { audio: true, video: false, substream: 0 });
  });

  test("no state yet, nothing", () => {
    assert.equal(wanted(null, site(3)).size, 0);
  });
});

describe("HQ's console", () => {
  test("every other site at the lowest layer, the enlarged one sharp", () => {
    const w = wanted(base, hq, { enlarged: 3 });
    assert.deepEqual([...w.keys()].sort(), [feedOf(2), feedOf(3), feedOf(4)].sort());
    assert.equal(w.get(feedOf(2)).substream, 0);
    assert.equal(w.get(feedOf(3)).substream, 2);
  });

  test("the floor sharp, and heard once its mic opens", () => {
    const w = wanted({ ...base, floor: { site: 4 }, mics: { open: [1, 4] } }, hq);
    assert.deepEqual(w.get(feedOf(4)), { audio: true, video: true, substream: 2 });
    assert.equal(w.get(feedOf(2)).audio, false);
  });
});
