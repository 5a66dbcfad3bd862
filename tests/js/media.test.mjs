// Docs: docs/live.md#media — static/live/media.js: the Janus URL, and MediaKeeper's retries
// (capped exponential back-off, reset after a success, the failure code it exposes).
// Run: node --test tests/js/

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";

import { MediaKeeper, RETRY_STEPS_MS, STABLE_MS, janusUrl, retryDelay } from "../../src/diemcau/live/static/live/media.js";

globalThis.gettext = (s) => s;

test("back-off: 2, 4, 8, 16, 30, 30… seconds", () => {
  assert.deepEqual(
    Array.from({ length: 9 }, (_, i) => retryDelay(i)),
    [2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000],
  );
  assert.deepEqual(RETRY_STEPS_MS, [2000, 4000, 8000, 16000, 30000]);
});

test("a relative janus_url is taken on the page's own origin", () => {
  assert.equal(janusUrl("/janus", { protocol: "https:", host: "10.0.0.5:8443" }), "wss://10.0.0.5:8443/janus");
  assert.equal(janusUrl("/janus", { protocol: "http:", host: "localhost:8000" }), "ws://localhost:8000/janus");
  assert.equal(janusUrl("wss://media.example.vn/janus", { protocol: "https:", host: "x" }), "wss://media.example.vn/janus");
});

// A Media stand-in: each start() takes the next outcome from `script`.
class FakeMedia extends EventTarget {
  constructor(script) {
    super();
    this.script = script;
    this.tracks = {};
    this.iceArmed = false;
    this.stopped = false;
  }
  async start() {
    const next = this.script.shift() ?? "ok";
    if (next === "ws") throw Object.assign(new Error("no answer from the media server"), { code: "ws" });
    this.dispatchEvent(new CustomEvent("mediastatus", { detail: { camera: "missing", microphone: "ok", receiveOnly: false } }));
    if (next === "connected") this.dispatchEvent(new CustomEvent("connected"));
    if (next === "ice") {
      this.iceArmed = true;
      queueMicrotask(() => this.dispatchEvent(new CustomEvent("lost", { detail: { why: "ICE", code: "ice" } })));
    }
  }
  async stop() {
    this.stopped = true;
  }
  abandon() {
    this.abandonedAt = true;
  }
  discard() {
    this.discarded = true;
  }
}

describe("MediaKeeper", () => {
  const realSetTimeout = globalThis.setTimeout;
  let delays;

  beforeEach(() => {
    delays = [];
    // Retries run at once (their delay is recorded); the "stable" timer never fires here.
    globalThis.setTimeout = (fn, ms) => {
      if (ms !== STABLE_MS) {
        delays.push(ms);
        setImmediate(fn);
      }
      return 0;
    };
  });
  afterEach(() => {
    globalThis.setTimeout = realSetTimeout;
  });

  function keeperWith(script) {
    const control = Object.assign(new EventTarget(), {
      state: { meeting: { status: "live" } },
      sent: [],
      async send(type) {
        this.sent.push(type);
        return type === "media.access" ? { janus_url: "/janus" } : undefined;
      },
    });
    const keeper = new MediaKeeper(control, () => "CSDN", { makeMedia: () => new FakeMedia(script) });
    const failed = [];
    keeper.addEventListener("failed", (e) => failed.push(e.detail));
    return { keeper, failed, control };
  }

  async function until(predicate) {
    for (let i = 0; i < 1000 && !predicate(); i++) await new Promise((r) => setImmediate(r));
    assert.ok(predicate(), "condition not reached");
  }

  test("the media server unreachable: 2, 4, 8, 16, 30, 30 s, then reset after a success", async () => {
    const script = ["ws", "ws", "ws", "ws", "ws", "ws", "connected", "ws", "connected"];
    const { keeper, failed } = keeperWith(script);
    const problems = [];
    keeper.addEventListener("change", () => problems.push(keeper.problem));
    keeper.ensure();
    await until(() => script.length === 2 && keeper.failure === null);
    assert.deepEqual(
      failed.map((f) => f.retryMs),
      [2000, 4000, 8000, 16000, 30000, 30000],
    );
    assert.ok(failed.every((f) => f.code === "ws"));
    assert.ok(problems.includes("ws"));
    assert.equal(keeper.attempt, 0);
    // After the success the next failure waits 2 s again.
    keeper.media.dispatchEvent(new CustomEvent("lost", { detail: { why: "Janus restarted", code: null } }));
    await until(() => script.length === 0 && keeper.failure === null);
    assert.deepEqual(failed.slice(6).map((f) => [f.code, f.retryMs]), [["lost", 2000], ["ws", 4000]]);
  });

  test("ICE not connecting: failure and problem are 'ice', with back-off, until it connects", async () => {
    const script = ["ice", "ice", "ice"];
    const { keeper, failed } = keeperWith(script);
    const seen = [];
    keeper.addEventListener("change", () => seen.push(keeper.problem));
    keeper.ensure();
    await until(() => failed.length === 3);
    assert.deepEqual(failed.map((f) => [f.code, f.retryMs]), [["ice", 2000], ["ice", 4000], ["ice", 8000]]);
    assert.ok(seen.includes("ice"));
    await until(() => keeper.failure === null);
    assert.equal(keeper.problem, null);
  });

  test("the control link lost: the session is abandoned at once, a fresh one starts when it is back", async () => {
    const script = ["connected", "connected"];
    const { keeper, control, failed } = keeperWith(script);
    const status = (s) => control.dispatchEvent(new CustomEvent("status", { detail: s }));
    keeper.ensure();
    await until(() => script.length === 1 && keeper.failure === null);
    const first = keeper.media;
    // Silent: the badge says so, the session is kept; heard again: all as it was.
    status("lost");
    assert.deepEqual([keeper.media, keeper.failure], [first, "lost"]);
    status("connected");
    assert.deepEqual([keeper.media, keeper.failure], [first, null]);
    // Given up: the session goes at once.
    status("lost");
    control.dispatchEvent(new CustomEvent("gaveup"));
    assert.equal(keeper.media, null);
    assert.equal(first.abandonedAt, true);
    assert.equal(keeper.failure, "lost"); // the badge says so, never "sending"
    // Nothing starts while the link is down, whatever asks.
    await keeper.ensure();
    keeper.follow(true);
    assert.equal(keeper.media, null);
    assert.equal(control.sent.filter((t) => t === "media.access").length, 1);
    status("connected");
    assert.equal(first.discarded, true); // its Janus session ended over a fresh socket
    await until(() => script.length === 0 && keeper.failure === null);
    assert.notEqual(keeper.media, first);
    assert.equal(control.sent.filter((t) => t === "media.access").length, 2);
    assert.deepEqual(failed, []); // no back-off on the way
  });

  test("a lost link before the meeting is live changes nothing", () => {
    const { keeper, control } = keeperWith([]);
    control.dispatchEvent(new CustomEvent("status", { detail: "lost" }));
    control.dispatchEvent(new CustomEvent("gaveup"));
    assert.equal(keeper.suspended, false);
    assert.equal(keeper.failure, null);
  });

  test("retrying the devices starts again at once and resets the back-off", async () => {
    const script = ["ws", "ws", "ws", "connected"];
    const { keeper, failed } = keeperWith(script);
    keeper.ensure();
    await until(() => failed.length === 2);
    await keeper.retryDevices();
    await until(() => script.length === 0 && keeper.failure === null);
    assert.deepEqual(failed.map((f) => f.retryMs), [2000, 4000, 2000]);
  });

  test("the device status is kept across a restart and cleared when the meeting ends", async () => {
    const { keeper, control } = keeperWith(["connected"]);
    keeper.ensure();
    await until(() => keeper.status !== null);
    assert.deepEqual(keeper.status, { camera: "missing", microphone: "ok", receiveOnly: false });
    control.state.meeting.status = "ended";
    keeper.follow(false);
    await until(() => keeper.media === null);
    assert.equal(keeper.status, null);
    assert.equal(keeper.failure, null);
  });
});

describe("a feed that has just gone", () => {
  test("Janus's 428 (no such feed or mid) is not an operator's problem; other errors are", async () => {
    const { feedGone } = await import("../../src/diemcau/live/static/live/media.js");
    assert.equal(feedGone({ code: 428, message: "No such feed (123)" }), true);
    assert.equal(feedGone(new Error("No such mid 3 in feed 99")), true);
    assert.equal(feedGone({ code: 432, message: "Maximum number of publishers reached" }), false);
    assert.equal(feedGone(new Error("Janus did not answer in time")), false);
  });
});
