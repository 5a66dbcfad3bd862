// Docs: docs/live.md — static/live/control.js: the control WebSocket keeps the page's state
// in step by sequence numbers (a gap asks for a snapshot), matches replies to requests,
// and reconnects by itself unless refused. Run: node --test tests/js/

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";

globalThis.gettext = (s) => s;
globalThis.location = { protocol: "https:", host: "10.77.0.1" };

class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = FakeSocket.OPEN;
    this.sent = [];
    this.closed = false;
    FakeSocket.made.push(this);
  }
  close() {
    this.closed = true;
    this.readyState = 3;
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  receive(msg) {
    this.onmessage({ data: JSON.stringify(msg) });
  }
  closeBy(code) {
    this.readyState = 3;
    this.onclose({ code });
  }
}
globalThis.WebSocket = FakeSocket;

const { Control } = await import("../../src/diemcau/live/static/live/control.js");

let timers;
let watches;
beforeEach(() => {
  FakeSocket.made = [];
  timers = [];
  watches = [];
  globalThis.setTimeout = (fn, ms) => timers.push({ fn, ms });
  globalThis.setInterval = (fn, ms) => watches.push({ fn, ms });
  globalThis.clearInterval = () => {};
});
afterEach(() => {
  delete globalThis.setTimeout;
  delete globalThis.setInterval;
  delete globalThis.clearInterval;
});

function connected() {
  const c = new Control(7, "site");
  c.start();
  const ws = FakeSocket.made.at(-1);
  ws.receive({ type: "snapshot", seq: 5, state: { floor: null, chat: [] }, you: { site: 3 } });
  return { c, ws };
}

describe("state in step", () => {
  test("the socket is the page's own origin, over wss", () => {
    const { ws } = connected();
    assert.equal(ws.url, "wss://10.77.0.1/ws/meetings/7/site/");
  });

  test("the next event applies; an old one is ignored", () => {
    const { c } = connected();
    const ws = FakeSocket.made.at(-1);
    ws.receive({ type: "event", seq: 6, kind: "floor", state: { floor: { site: 4 } } });
    assert.deepEqual([c.seq, c.state.floor], [6, { site: 4 }]);
    ws.receive({ type: "event", seq: 6, kind: "floor", state: { floor: null } });
    assert.deepEqual(c.state.floor, { site: 4 });
  });

  test("a gap asks for a snapshot instead of applying what it cannot trust", () => {
    const { c, ws } = connected();
    ws.receive({ type: "event", seq: 8, kind: "floor", state: { floor: { site: 4 } } });
    assert.equal(c.state.floor, null);
    assert.equal(ws.sent.at(-1).type, "snapshot");
  });

  test("the sequence heartbeat: behind the meeting asks for a snapshot, once per seq", () => {
    const { c, ws } = connected();
    const snapshots = () => ws.sent.filter((m) => m.type === "snapshot").length;
    ws.receive({ type: "seq", seq: 5 }); // in step
    assert.equal(snapshots(), 0);
    ws.receive({ type: "seq", seq: 4 }); // an older beat (another process's cache)
    assert.equal(snapshots(), 0);
    ws.receive({ type: "seq", seq: 6 }); // the last event never came
    assert.equal(snapshots(), 1);
    ws.receive({ type: "seq", seq: 6 }); // still on its way: not asked again
    assert.equal(snapshots(), 1);
    ws.receive({ type: "snapshot", seq: 6, state: { floor: null, chat: [] }, you: { site: 3 } });
    ws.receive({ type: "seq", seq: 6 });
    assert.deepEqual([c.seq, snapshots()], [6, 1]);
  });

  test("a chat message is appended, at most 50 kept", () => {
    const { c, ws } = connected();
    for (let i = 0; i < 55; i += 1) ws.receive({ type: "event", seq: 6 + i, kind: "chat", state: {}, message: { text: `m${i}` } });
    assert.equal(c.state.chat.length, 50);
    assert.equal(c.state.chat.at(-1).text, "m54");
  });
});

describe("requests", () => {
  test("a reply resolves its own request, an error rejects it with the server's words", async () => {
    const { c, ws } = connected();
    const granted = c.send("floor.request", { topic: "x" });
    const refused = c.send("vote.cast", { choice: "yes" });
    const [first, second] = ws.sent.slice(-2);
    ws.receive({ type: "error", ref: second.ref, code: "not_now", message: "Không có biểu quyết." });
    ws.receive({ type: "ok", ref: first.ref });
    assert.equal((await granted).type, "ok");
    await assert.rejects(refused, /Không có biểu quyết/);
  });

  test("fire-and-forget messages resolve at once", async () => {
    const { c } = connected();
    assert.equal(await c.send("quality", { rtt: 20 }), undefined);
  });

  test("not connected: refused with a message, nothing sent", async () => {
    const { c, ws } = connected();
    ws.readyState = 3;
    await assert.rejects(c.send("floor.request"), /Not connected/);
  });
});

describe("reconnecting", () => {
  test("a dropped socket rejects what waits, and retries with back-off", async () => {
    const { c, ws } = connected();
    const waiting = c.send("floor.request");
    ws.closeBy(1006);
    await assert.rejects(waiting, /Connection lost/);
    assert.equal(c.status, "reconnecting");
    assert.deepEqual(timers.map((t) => t.ms), [500]);
    timers.shift().fn();
    FakeSocket.made.at(-1).closeBy(1006);
    assert.deepEqual(timers.map((t) => t.ms), [1000]);
  });

  test("refused (4403): no retry, the page says so", () => {
    const { c, ws } = connected();
    ws.closeBy(4403);
    assert.equal(c.status, "refused");
    assert.equal(timers.length, 0);
  });

  test("revoked (4401) and ended (4410): no retry, each says which", () => {
    for (const [code, status] of [[4401, "revoked"], [4410, "ended"]]) {
      const { c, ws } = connected();
      ws.closeBy(code);
      assert.equal(c.status, status);
      assert.equal(timers.length, 0);
    }
  });
});

describe("heartbeat", () => {
  // A page on a clock of its own: `at(ms)` moves it and runs the watch.
  function clocked() {
    let t = 100000;
    const c = new Control(7, "site", { now: () => t });
    c.start();
    const ws = FakeSocket.made.at(-1);
    ws.onopen();
    ws.receive({ type: "snapshot", seq: 5, state: { chat: [] }, you: { site: 3 } });
    // The watch runs every 250 ms: the clock moves in its steps.
    const at = (ms) => {
      for (let left = ms; left > 0; left -= 250) {
        t += Math.min(250, left);
        c.check();
      }
    };
    const stall = (ms) => {
      t += ms;
      c.check();
    };
    return { c, ws, at, stall };
  }
  const pings = (ws) => ws.sent.filter((m) => m.type === "ping").length;

  test("one watch, every 250 ms", () => {
    clocked();
    assert.deepEqual(watches.map((w) => w.ms), [250]);
  });

  test("a ping a second while the server answers", () => {
    const { ws, at } = clocked();
    for (let i = 0; i < 12; i += 1) {
      at(250);
      if (i % 4 === 3) ws.receive({ type: "pong" });
    }
    assert.equal(pings(ws), 3);
  });

  test("2.5 s without a word: the page says the link is lost; a word brings it back", () => {
    const { c, ws, at } = clocked();
    at(2400);
    assert.equal(c.status, "connected");
    at(250);
    assert.equal(c.status, "lost");
    assert.equal(ws.closed, false); // nothing torn down: the server may just be late
    ws.receive({ type: "pong" });
    assert.equal(c.status, "connected");
    assert.equal(FakeSocket.made.length, 1);
  });

  test("10 s without a word: the socket is given up and a new one tried at once", async () => {
    const { c, ws, at } = clocked();
    let gaveUp = 0;
    c.addEventListener("gaveup", () => (gaveUp += 1));
    const waiting = c.send("floor.request");
    at(9900);
    assert.deepEqual([c.status, gaveUp, ws.closed], ["lost", 0, false]);
    at(250);
    assert.deepEqual([c.status, gaveUp, ws.closed], ["lost", 1, true]);
    assert.equal(ws.onclose, null); // its late close changes nothing
    await assert.rejects(waiting, /Connection lost/);
    assert.equal(FakeSocket.made.length, 2);
    assert.equal(timers.length, 0); // no back-off: the next try is already under way
  });

  test("a new socket that does not open in 2 s is given up and tried again", () => {
    const { c, at } = clocked();
    at(10250);
    const trying = FakeSocket.made.at(-1);
    trying.readyState = FakeSocket.CONNECTING;
    at(1900);
    assert.equal(FakeSocket.made.length, 2);
    at(200);
    assert.equal(trying.closed, true);
    assert.equal(FakeSocket.made.length, 3);
    assert.equal(c.status, "lost"); // still lost until one opens
    const next = FakeSocket.made.at(-1);
    next.onopen();
    next.receive({ type: "snapshot", seq: 9, state: { chat: [] }, you: { site: 3 } });
    assert.equal(c.status, "connected");
  });

  test("a page held up itself (a busy PC) does not call the link lost for it", () => {
    const { c, ws, stall, at } = clocked();
    stall(12000);
    assert.equal(c.status, "connected");
    assert.equal(ws.closed, false);
    ws.receive({ type: "pong" }); // what waited while the page was held up
    at(2000);
    assert.equal(c.status, "connected");
    at(1000);
    assert.equal(c.status, "lost"); // really silent since
  });

  test("an open socket that keeps hearing from the server is never dropped", () => {
    const { c, ws, at } = clocked();
    for (let i = 0; i < 100; i += 1) {
      at(500);
      ws.receive({ type: "pong" });
    }
    assert.equal(c.status, "connected");
    assert.equal(FakeSocket.made.length, 1);
  });

  test("off for tools that do not want it", () => {
    const c = new Control(7, "site", { heartbeat: false });
    c.start();
    assert.equal(watches.length, 0);
  });
});
