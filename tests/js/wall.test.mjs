// Docs: docs/live.md — static/live/wall.js: HQ's video wall, problems first, dense above 30.
// Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

const { DENSE_ABOVE, RANK, density, tileRank, wallOrder } = await import("../../src/diemcau/live/static/live/wall.js");

describe("tileRank", () => {
  test("never joined, left, cut, no picture, fine: in that order", () => {
    const ranks = [
      tileRank({ presence: "absent" }),
      tileRank({ presence: "left", media: "ok" }),
      tileRank({ presence: "reconnecting", media: "ok" }),
      tileRank({ presence: "connected", media: "denied" }),
      tileRank({ presence: "connected", media: "ok" }),
    ];
    assert.deepEqual(ranks, [RANK.absent, RANK.left, RANK.lost, RANK["no-video"], RANK.ok]);
    assert.deepEqual([...ranks].sort((a, b) => a - b), ranks);
  });

  test("a connected site whose picture cannot reach HQ is a problem", () => {
    for (const media of ["ws", "ice", "insecure", "denied", "busy", "no-camera"]) {
      assert.equal(tileRank({ presence: "connected", media }), RANK["no-video"], media);
    }
    assert.equal(tileRank({ presence: "connected", media: "ok", publishing: false }), RANK["no-video"]);
  });

  test("no microphone, receive only by choice, or no report yet is not a lost picture", () => {
    assert.equal(tileRank({ presence: "connected", media: "no-microphone" }), RANK.ok);
    assert.equal(tileRank({ presence: "connected", media: "receive-only", publishing: false }), RANK.ok);
    assert.equal(tileRank({ presence: "connected", media: "unknown" }), RANK.ok);
  });

  test("nothing known: not joined", () => {
    assert.equal(tileRank(), RANK.absent);
  });
});

describe("wallOrder", () => {
  const sites = Array.from({ length: 67 }, (_, i) => ({ id: i + 1 }));

  test("problems first, the rest in the meeting's order", () => {
    const problems = new Map([[40, RANK.lost], [7, RANK.absent], [66, RANK["no-video"]], [3, RANK.absent]]);
    const order = wallOrder(sites, (s) => problems.get(s.id) ?? RANK.ok).map((s) => s.id);
    assert.deepEqual(order.slice(0, 4), [3, 7, 40, 66]);
    assert.deepEqual(order.slice(4), sites.map((s) => s.id).filter((id) => !problems.has(id)));
  });

  test("stable: every site fine keeps the meeting's order; nothing is lost or doubled", () => {
    const order = wallOrder(sites, () => RANK.ok);
    assert.deepEqual(order, sites);
    const shuffled = wallOrder(sites, (s) => s.id % 5);
    assert.equal(new Set(shuffled).size, sites.length);
  });
});

describe("density", () => {
  test("dense by default above 30 sites, normal up to it", () => {
    assert.equal(DENSE_ABOVE, 30);
    assert.equal(density(30), "normal");
    assert.equal(density(31), "dense");
    assert.equal(density(67), "dense");
  });

  test("the chair's choice wins either way", () => {
    assert.equal(density(67, "normal"), "normal");
    assert.equal(density(5, "dense"), "dense");
    assert.equal(density(67, "bogus"), "dense");
  });
});
