// Docs: docs/live.md#media — static/live/uplink.js: a site on a weak uplink stops sending
// its top simulcast layer and sends it again after a clean while, without flapping.
// Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CLEAN_MS, GRACE_MS, capSender, topEncoding, uplinkCap } from "../../src/diemcau/live/static/live/uplink.js";

// Feeds samples 2 s apart from `t0`; returns the states.
function run(samples, { state = null, t0 = 0 } = {}) {
  const out = [];
  samples.forEach((sample, i) => {
    state = uplinkCap(state, sample, t0 + i * 2000);
    out.push(state);
  });
  return out;
}
const good = { loss: 0, kbps: 1200, available: 2500 };
const repeat = (n, sample) => Array.from({ length: n }, () => sample);

describe("uplinkCap", () => {
  test("a good uplink is never capped", () => {
    assert.ok(run(repeat(20, good)).every((s) => !s.capped));
  });

  test("more than 5 % loss caps at once", () => {
    assert.equal(uplinkCap(null, { loss: 8, kbps: 900, available: 1500 }, 0).capped, true);
    assert.equal(uplinkCap(null, { loss: 4, kbps: 900, available: 1500 }, 0).capped, false);
  });

  test("a bandwidth estimate below the top layer caps when it holds the rate down", () => {
    assert.equal(uplinkCap(null, { loss: 0, kbps: 430, available: 480 }, 0).capped, true);
    // A small camera or a still picture sends little on a link with room: not capped.
    assert.equal(uplinkCap(null, { loss: 0, kbps: 250, available: 420 }, 0).capped, false);
  });

  test("back after 15 s clean, not before; one bad report starts the count again", () => {
    const capped = uplinkCap(null, { loss: 10 }, 0);
    const steps = Math.ceil(CLEAN_MS / 2000); // 8 reports still capped, the 9th restores
    const states = run([...repeat(4, good), { loss: 3 }, ...repeat(steps + 1, good)], { state: capped, t0: 2000 });
    assert.ok(states.slice(0, 4).every((s) => s.capped));
    assert.ok(states.slice(5, 5 + steps).every((s) => s.capped));
    assert.equal(states.at(-1).capped, false);
  });

  test("while capped, a low estimate alone does not hold it capped; congestion does", () => {
    // The estimate grows only a little above what is sent: ~600 while sending 400 is clean.
    const states = run(repeat(9, { loss: 0, kbps: 400, available: 600 }), { state: uplinkCap(null, { loss: 9 }, 0), t0: 2000 });
    assert.equal(states.at(-1).capped, false);
    const congested = run(repeat(12, { loss: 0, kbps: 400, available: 300 }), { state: uplinkCap(null, { loss: 9 }, 0), t0: 2000 });
    assert.ok(congested.every((s) => s.capped));
  });

  test("right after a restore the estimate is still low: only loss counts for a few seconds", () => {
    let s = { capped: false, cleanSince: null, holdMs: CLEAN_MS, restoredAt: 100_000 };
    s = uplinkCap(s, { loss: 0, kbps: 650, available: 600 }, 100_000 + GRACE_MS - 2000);
    assert.equal(s.capped, false);
    s = uplinkCap(s, { loss: 0, kbps: 650, available: 600 }, 100_000 + GRACE_MS);
    assert.equal(s.capped, true);
  });

  test("capped again soon after a restore: it waits twice as long next time, up to 2 minutes", () => {
    let s = { capped: false, cleanSince: null, holdMs: CLEAN_MS, restoredAt: 100_000 };
    s = uplinkCap(s, { loss: 12 }, 110_000);
    assert.equal(s.holdMs, 2 * CLEAN_MS);
    s = { ...s, capped: false, restoredAt: 200_000, holdMs: 120_000 };
    assert.equal(uplinkCap(s, { loss: 12 }, 201_000).holdMs, 120_000);
    // Long after the last restore: back to 15 s.
    assert.equal(uplinkCap({ ...s, restoredAt: 0 }, { loss: 12 }, 500_000).holdMs, CLEAN_MS);
  });

  test("no measurement yet changes nothing", () => {
    assert.equal(uplinkCap(null, {}, 0).capped, false);
    assert.equal(uplinkCap(null, { loss: null, kbps: null, available: null }, 0).capped, false);
  });
});

describe("capSender", () => {
  // janus.js's encodings (getMaxBitrates defaults).
  const encodings = () => [
    { rid: "h", active: true, maxBitrate: 900000 },
    { rid: "m", active: true, maxBitrate: 300000, scaleResolutionDownBy: 2 },
    { rid: "l", active: true, maxBitrate: 100000, scaleResolutionDownBy: 4 },
  ];
  function fakeSender(list) {
    const sent = [];
    return {
      sent,
      getParameters: () => ({ transactionId: "t1", encodings: list.map((e) => ({ ...e })) }),
      setParameters: async (p) => {
        sent.push(p);
        list.splice(0, list.length, ...p.encodings);
      },
    };
  }

  test("turns the top layer off and on again, the others untouched", async () => {
    const list = encodings();
    const sender = fakeSender(list);
    await capSender(sender, true);
    assert.deepEqual(list.map((e) => e.active), [false, true, true]);
    assert.equal(sender.sent[0].transactionId, "t1"); // the parameters it got, changed
    await capSender(sender, false);
    assert.deepEqual(list.map((e) => e.active), [true, true, true]);
  });

  test("nothing to change, nothing set; a sender without simulcast is left alone", async () => {
    const sender = fakeSender(encodings());
    await capSender(sender, false);
    assert.equal(sender.sent.length, 0);
    const single = fakeSender([{ active: true }]);
    await capSender(single, true);
    assert.equal(single.sent.length, 0);
  });

  test("the top layer is rid h, else the one at full size", () => {
    assert.equal(topEncoding(encodings()), 0);
    assert.equal(topEncoding([{ rid: "q", scaleResolutionDownBy: 4 }, { rid: "f" }]), 1);
    assert.equal(topEncoding(undefined), -1);
  });
});
