// Docs: docs/live.md#media — static/live/linkstats.js: the `down` report from two getStats()
// snapshots of the subscriber, and how long the main picture stood still. The snapshots
// are shaped as Chromium gives them (ids, field names). Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { availableOutgoing, downStats, EMPTY_DOWN, follow, reports, roundTrip } from "../../src/diemcau/live/static/live/linkstats.js";

// A site page's subscriber: the main source's audio (mid 0) and video (mid 1), the floor's
// video (mid 2), over one selected candidate pair.
function snapshot({ t, main = {}, floor = {}, audio = {}, pair = {} }) {
  return new Map(
    [
      { id: "T01", type: "transport", timestamp: t, selectedCandidatePairId: "CPa1b2" },
      { id: "CPa1b2", type: "candidate-pair", timestamp: t, nominated: true, state: "succeeded", currentRoundTripTime: 0.287, ...pair },
      {
        id: "IT01A1", type: "inbound-rtp", kind: "audio", mid: "0", ssrc: 11, timestamp: t, trackIdentifier: "janus-a0",
        packetsReceived: 0, packetsLost: 0, bytesReceived: 0, jitter: 0.004, totalSamplesReceived: 0, concealedSamples: 0, silentConcealedSamples: 0, ...audio,
      },
      {
        id: "IT01V1", type: "inbound-rtp", kind: "video", mid: "1", ssrc: 12, timestamp: t, trackIdentifier: "janus-v1",
        packetsReceived: 0, packetsLost: 0, bytesReceived: 0, jitter: 0.011, framesDecoded: 0, framesReceived: 0, freezeCount: 0, totalFreezesDuration: 0, ...main,
      },
      {
        id: "IT01V2", type: "inbound-rtp", kind: "video", mid: "2", ssrc: 13, timestamp: t, trackIdentifier: "janus-v2",
        packetsReceived: 0, packetsLost: 0, bytesReceived: 0, jitter: 0.009, framesDecoded: 0, freezeCount: 0, totalFreezesDuration: 0, ...floor,
      },
    ].map((r) => [r.id, r]),
  );
}

const healthy0 = snapshot({
  t: 1000,
  main: { packetsReceived: 5000, packetsLost: 10, bytesReceived: 5_000_000, framesDecoded: 3000, freezeCount: 1, totalFreezesDuration: 0.4 },
  floor: { packetsReceived: 1000, bytesReceived: 600_000, framesDecoded: 1500 },
  audio: { packetsReceived: 6000, bytesReceived: 600_000, totalSamplesReceived: 5_760_000, concealedSamples: 2000 },
  pair: { availableIncomingBitrate: 2_400_000 },
});
// Two seconds later: 30 fps, 1 % of video lost, 1 % of sound concealed.
const healthy1 = snapshot({
  t: 3000,
  main: { packetsReceived: 5198, packetsLost: 12, bytesReceived: 5_200_000, framesDecoded: 3060, freezeCount: 1, totalFreezesDuration: 0.4, jitter: 0.018 },
  floor: { packetsReceived: 1000, bytesReceived: 650_000, framesDecoded: 1530 },
  audio: { packetsReceived: 6100, bytesReceived: 610_000, totalSamplesReceived: 5_856_000, concealedSamples: 2960 },
  pair: { availableIncomingBitrate: 2_400_000 },
});

describe("downStats", () => {
  test("a moving picture: fps from framesDecoded, kbit/s over every inbound stream, loss over video", () => {
    const d = downStats(healthy0, healthy1, 2000, { mainMid: "1" });
    assert.equal(d.fps, 30);
    assert.equal(d.frozen_ms, 0);
    assert.equal(d.kbps, (260_000 * 8) / 2000); // 1040 kbit/s
    assert.equal(d.available, 2400);
    assert.equal(d.loss, 1); // 2 lost of 200 expected
    assert.equal(d.jitter, 18); // the worst video, in ms
    assert.equal(d.audio_concealed, 0.01);
  });

  test("the picture stands still: framesDecoded does not move, the whole interval is frozen", () => {
    const still = snapshot({
      t: 3000,
      main: { packetsReceived: 5150, packetsLost: 60, bytesReceived: 5_150_000, framesDecoded: 3000, freezeCount: 1, totalFreezesDuration: 0.4 },
      floor: { packetsReceived: 1000, bytesReceived: 650_000, framesDecoded: 1530 },
      audio: { packetsReceived: 6100, bytesReceived: 610_000, totalSamplesReceived: 5_856_000, concealedSamples: 2960 },
    });
    const d = downStats(healthy0, still, 2000, { mainMid: "1" });
    assert.equal(d.fps, 0);
    assert.equal(d.frozen_ms, 2000);
    assert.equal(d.available, null); // Chromium gives no availableIncomingBitrate without REMB
    assert.equal(d.loss, 25); // 50 lost of 200 over both videos: packets arrive, nothing decodes
  });

  test("a freeze that ended inside the interval counts from totalFreezesDuration", () => {
    const thawed = snapshot({
      t: 3000,
      main: { packetsReceived: 5100, bytesReceived: 5_100_000, framesDecoded: 3020, freezeCount: 2, totalFreezesDuration: 1.6 },
    });
    const d = downStats(healthy0, thawed, 2000, { mainMid: "1" });
    assert.equal(d.fps, 10);
    assert.equal(d.frozen_ms, 1200);
  });

  test("the main picture is found by its track when the stats carry no mid", () => {
    const strip = (snap) => new Map([...snap].map(([id, r]) => [id, { ...r, mid: undefined }]));
    const d = downStats(strip(healthy0), strip(healthy1), 2000, { mainTrackId: "janus-v2" });
    assert.equal(d.fps, 15); // the floor's picture, named by its track
  });

  test("no main picture received: fps and frozen_ms are null, the rest is measured", () => {
    const d = downStats(healthy0, healthy1, 2000, { mainMid: "9" });
    assert.equal(d.fps, null);
    assert.equal(d.frozen_ms, null);
    assert.equal(d.kbps, 1040);
  });

  test("sound missing: concealed samples over the samples played", () => {
    const gap = snapshot({
      t: 3000,
      main: { packetsReceived: 5198, bytesReceived: 5_200_000, framesDecoded: 3060 },
      audio: { packetsReceived: 6010, bytesReceived: 601_000, totalSamplesReceived: 5_856_000, concealedSamples: 88_000 },
    });
    assert.equal(downStats(healthy0, gap, 2000, { mainMid: "1" }).audio_concealed, 0.8958);
  });

  test("every value is a finite number or null, also from an empty or first snapshot", () => {
    assert.deepEqual(downStats(null, healthy1, 2000), { ...EMPTY_DOWN });
    assert.deepEqual(downStats(healthy0, healthy1, 0), { ...EMPTY_DOWN });
    const d = downStats(new Map(), healthy1, 2000, { mainMid: "1" });
    for (const [k, v] of Object.entries(d)) assert.ok(v === null || Number.isFinite(v), `${k}: ${v}`);
    assert.equal(d.fps, null); // a stream new in this interval: nothing to compare yet
    assert.equal(d.frozen_ms, null);
    const weird = snapshot({ t: 3000, main: { framesDecoded: NaN, bytesReceived: "x" } });
    for (const v of Object.values(downStats(healthy0, weird, 2000, { mainMid: "1" }))) assert.ok(v === null || Number.isFinite(v));
  });

  test("counters that go backwards (a new PeerConnection) do not give negative numbers", () => {
    const d = downStats(healthy1, healthy0, 2000, { mainMid: "1" });
    assert.ok(d.kbps >= 0 && d.fps >= 0 && d.loss >= 0);
  });
});

describe("reports and the candidate pair", () => {
  test("a snapshot may be a Map, an array or an object", () => {
    const list = [...healthy0.values()];
    assert.equal(reports(healthy0).length, 5);
    assert.equal(reports(list).length, 5);
    assert.equal(reports(Object.fromEntries(healthy0)).length, 5);
    assert.deepEqual(reports(null), []);
  });

  test("round trip and outgoing estimate come from the selected pair", () => {
    assert.equal(roundTrip(healthy0), 287);
    assert.equal(availableOutgoing(snapshot({ t: 0, pair: { availableOutgoingBitrate: 512_345 } })), 512);
    assert.equal(availableOutgoing(healthy0), null);
    assert.equal(roundTrip(null), null);
  });
});

describe("follow: how long the picture stood still and sound was missing", () => {
  const moving = { ...EMPTY_DOWN, fps: 30, frozen_ms: 0, audio_concealed: 0.01 };
  const frozen = { ...EMPTY_DOWN, fps: 0, frozen_ms: 2000, audio_concealed: 0.01 };

  test("still time adds up over reports and ends when the picture moves", () => {
    let h = follow(null, frozen, 2000);
    assert.equal(h.stillMs, 2000);
    h = follow(h, frozen, 2000);
    assert.equal(h.stillMs, 4000);
    h = follow(h, moving, 2000);
    assert.equal(h.stillMs, 0);
  });

  test("no main picture: nothing is claimed about it", () => {
    assert.equal(follow({ stillMs: 4000, silentMs: 0 }, { ...EMPTY_DOWN }, 2000).stillMs, 0);
  });

  test("sound expected but concealed or absent adds up; not expected, never", () => {
    const noAudio = { ...moving, audio_concealed: null };
    let h = follow(null, noAudio, 2000, { audioExpected: true });
    h = follow(h, { ...moving, audio_concealed: 0.9 }, 2000, { audioExpected: true });
    assert.equal(h.silentMs, 4000);
    assert.equal(follow(h, moving, 2000, { audioExpected: true }).silentMs, 0);
    assert.equal(follow(h, noAudio, 2000, { audioExpected: false }).silentMs, 0);
  });
});
