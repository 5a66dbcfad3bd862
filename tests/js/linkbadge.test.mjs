// Docs: docs/live.md#media — static/live/linkbadge.js: the layer the server chose for a site
// and the truth of what arrives there, in words for the site's badge and HQ's tile.
// Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

globalThis.gettext = (s) => s;
globalThis.interpolate = (fmt, obj, named) =>
  named ? fmt.replace(/%\(\w+\)s/g, (m) => String(obj[m.slice(2, -2)])) : fmt.replace(/%s/g, () => String(obj.shift()));

const { decisionText, linkHealth, linkOf, siteBadge, soundOnly, tileHealthText } = await import("../../src/diemcau/live/static/live/linkbadge.js");
const { follow, EMPTY_DOWN } = await import("../../src/diemcau/live/static/live/linkstats.js");

const entry = (layer, more = {}) => ({
  layer,
  substream: { high: 2, high_half_rate: 2, medium: 1, low: 0, low_half_rate: 0, audio: 0 }[layer],
  temporal: layer.endsWith("half_rate") ? 1 : layer === "audio" ? 0 : 2,
  video: layer !== "audio",
  by: "auto",
  reason: "loss",
  kbps: 480,
  loss: 4,
  since: "2026-12-02T22:10:00+07:00",
  ...more,
});

describe("linkOf", () => {
  test("the site's entry by its id as a string key; absent: null (high, automatic)", () => {
    const state = { links: { 7: entry("low") } };
    assert.equal(linkOf(state, 7).layer, "low");
    assert.equal(linkOf(state, 8), null);
    assert.equal(linkOf({}, 7), null);
    assert.equal(linkOf(null, 7), null);
  });
});

describe("decisionText (HQ's tile)", () => {
  test("the chosen layer with the numbers that chose it", () => {
    assert.equal(decisionText(entry("low"), "en"), "low layer · 480 kbit/s · 4 % loss");
    assert.equal(decisionText(entry("medium", { loss: 12.44, kbps: 1234.6 }), "en"), "medium layer · 1,235 kbit/s · 12 % loss");
    assert.equal(decisionText(entry("medium", { loss: 3.25 }), "vi"), "medium layer · 480 kbit/s · 3,3 % loss");
    assert.equal(decisionText(entry("low_half_rate", { loss: null }), "en"), "low layer, half frame rate · 480 kbit/s");
    assert.equal(decisionText(entry("high_half_rate", { kbps: null, loss: null }), "en"), "high layer, half frame rate");
  });

  test("sound only, pinned and weak link mode say so", () => {
    assert.equal(decisionText(entry("audio", { kbps: null, loss: null }), "en"), "sound only");
    assert.equal(decisionText(entry("low", { by: "pinned", reason: "pinned" }), "en"), "pinned: low layer");
    assert.equal(decisionText(entry("high", { by: "pinned", reason: "pinned" }), "en"), "pinned: high layer");
    assert.equal(decisionText(entry("audio", { by: "weak_mode", reason: "weak_mode" }), "en"), "weak link mode: sound only");
  });

  test("the high layer chosen automatically, or no entry: nothing to say", () => {
    assert.equal(decisionText(entry("high", { reason: "recovered" }), "en"), "");
    assert.equal(decisionText(null, "en"), "");
    assert.equal(decisionText({ layer: "bogus" }, "en"), "");
  });
});

describe("linkHealth: the badge tells the truth", () => {
  const moving = { ...EMPTY_DOWN, fps: 30, frozen_ms: 0, audio_concealed: 0.01 };
  const frozen = { ...EMPTY_DOWN, fps: 0, frozen_ms: 2000, audio_concealed: 0.01 };
  const after = (reports, opts) => reports.reduce((h, d) => follow(h, d, 2000, opts), null);

  test("a picture still for more than 2 s is 'frozen', even on the medium layer", () => {
    assert.equal(linkHealth(after([frozen]), entry("medium")), "degraded"); // 2 s: not yet
    assert.equal(linkHealth(after([frozen, frozen]), entry("medium")), "frozen");
    assert.equal(linkHealth(after([frozen, frozen]), null), "frozen");
    assert.equal(linkHealth(after([frozen, frozen, moving]), null), "ok");
  });

  test("sound only is not a frozen picture: the picture is paused on purpose", () => {
    assert.equal(linkHealth(after([frozen, frozen, frozen]), entry("audio")), "sound-only");
    assert.equal(linkHealth(null, entry("audio")), "sound-only");
  });

  test("expected sound missing or concealed for more than 2 s is 'no sound'", () => {
    const silent = { ...moving, audio_concealed: 0.97 };
    assert.equal(linkHealth(after([silent, silent], { audioExpected: true }), null), "no-sound");
    assert.equal(linkHealth(after([silent, silent], { audioExpected: false }), null), "ok");
    assert.equal(linkHealth(after([{ ...moving, audio_concealed: null }, { ...moving, audio_concealed: null }], { audioExpected: true }), entry("audio")), "no-sound");
  });

  test("no picture expected (the site is the main source itself): never 'frozen'", () => {
    assert.equal(linkHealth(after([frozen, frozen]), null, { videoExpected: false }), "ok");
  });

  test("no report yet: unknown", () => {
    assert.equal(linkHealth(null, null), "unknown");
    assert.equal(soundOnly(null), false);
  });

  test("HQ's tile: a short word for a frozen picture or missing sound", () => {
    assert.equal(tileHealthText("frozen", entry("medium")), "picture frozen");
    assert.equal(tileHealthText("no-sound", null), "no sound");
    assert.equal(tileHealthText("degraded", entry("low")), ""); // the decision text says it
    assert.equal(tileHealthText("ok", null), "");
  });
});

describe("siteBadge (the site page's own badge)", () => {
  test("frozen, no sound and sound only before the uplink's grade", () => {
    assert.deepEqual(siteBadge("frozen", entry("medium"), { grade: "good", rtt: 287 }), ["Picture frozen: the link is too weak right now", "poor"]);
    assert.deepEqual(siteBadge("no-sound", null, { grade: "good" }), ["No sound is arriving", "poor"]);
    assert.deepEqual(siteBadge("sound-only", entry("audio")), ["Weak link: sound only", "poor"]);
  });

  test("a degraded layer is named in a whole sentence", () => {
    assert.deepEqual(siteBadge("degraded", entry("low")), ["Weak link: low picture quality", "fair"]);
    assert.deepEqual(siteBadge("degraded", entry("high_half_rate")), ["Weak link: picture at half frame rate", "fair"]);
  });

  test("all well: the uplink's grade with the round trip", () => {
    assert.deepEqual(siteBadge("ok", null, { grade: "good", rtt: 1287.4, lang: "en" }), ["Link: good · 1,287 ms", "good"]);
    assert.deepEqual(siteBadge("ok", null, { grade: "fair", rtt: null }), ["Link: fair", "fair"]);
    assert.deepEqual(siteBadge("unknown", null, {}), ["Link: measuring…", "unknown"]);
  });
});
