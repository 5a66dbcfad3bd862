// Docs: docs/live.md#media-policy — static/live/policy.js: what each page subscribes to,
// mirroring diemcau/live/media_policy.py. Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CAMERA, SCREEN, feedOf, wanted } from "../../src/diemcau/live/static/live/policy.js";

const sites = [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }];
// Random ids, as the server issues them; site 4 has no camera named yet.
const feeds = { 1: 9007199254740001, 2: 4711, 3: 123456789 };
const base = { sites, feeds, main_source: 1, floor: null, screen: null, mics: { open: [1] } };
const site = (id) => ({ site: id, hq: false });
const hq = { site: 1, hq: true };
const cam = (id) => feedOf(base, id);

describe("feed ids", () => {
  test("come from the state: a site's camera from `feeds`, the shared screen from `screen`", () => {
    assert.equal(feedOf(base, 1), 9007199254740001);
    assert.equal(feedOf(base, 2, CAMERA), 4711);
    assert.equal(feedOf({ ...base, screen: { site: 2, feed: 99 } }, 2, SCREEN), 99);
    assert.equal(feedOf({ ...base, screen: { site: 2, feed: 99 } }, 3, SCREEN), null);
  });

  test("a site whose camera the server has not named yet is not subscribed to", () => {
    assert.equal(feedOf(base, 4), null);
    const w = wanted({ ...base, main_source: 4, mics: { open: [4] } }, site(3));
    assert.equal(w.size, 0);
  });
});

describe("a site's page", () => {
  test("receives the main source sharp, with its audio when its mic is open", () => {
    const w = wanted(base, site(3));
    assert.deepEqual([...w.keys()], [cam(1)]);
    assert.deepEqual(w.get(cam(1)), { audio: true, video: true, substream: 2 });
  });

  test("and the floor beside it", () => {
    const w = wanted({ ...base, floor: { site: 2 }, mics: { open: [1, 2] } }, site(3));
    assert.deepEqual(w.get(cam(2)), { audio: true, video: true, substream: 2 });
  });

  test("never itself, not even its own screen", () => {
    const w = wanted({ ...base, floor: { site: 3 }, screen: { site: 3, feed: 77 }, mics: { open: [3] } }, site(3));
    assert.ok(!w.has(cam(3)) && !w.has(77));
  });

  test("another site's shared screen, sharp", () => {
    const w = wanted({ ...base, screen: { site: 2, feed: 88 } }, site(3));
    assert.equal(w.get(88).substream, 2);
  });

  test("an open mic off screen is heard, not seen", () => {
    const w = wanted({ ...base, mics: { open: [1, 2] } }, site(3));
    assert.deepEqual(w.get(cam(2)), { audio: true, video: false, substream: 0 });
  });

  test("no state yet, nothing", () => {
    assert.equal(wanted(null, site(3)).size, 0);
  });
});

describe("HQ's console", () => {
  test("every other site at the lowest layer, the enlarged one sharp", () => {
    const w = wanted(base, hq, { enlarged: 3 });
    assert.deepEqual([...w.keys()].sort(), [cam(2), cam(3)].sort());
    assert.equal(w.get(cam(2)).substream, 0);
    assert.equal(w.get(cam(3)).substream, 2);
  });

  test("the floor sharp, and heard once its mic opens", () => {
    const w = wanted({ ...base, floor: { site: 3 }, mics: { open: [1, 3] } }, hq);
    assert.deepEqual(w.get(cam(3)), { audio: true, video: true, substream: 2 });
    assert.equal(w.get(cam(2)).audio, false);
  });
});
