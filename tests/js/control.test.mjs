// Docs: docs/live.md — static/live/control.js: the control WebSocket keeps the page's state
// in step by sequence numbers (a gap asks for a snapshot), matches replies to requests,
// and reconnects by itself unless refused. Run: node --test tests/js/

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";

globalThis.gettext = (s) => s;
globalThis.location = { protocol: "https:", host: "10.77.0.1" };

class FakeSocket {
  static OPEN = 1;
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = FakeSocket.OPEN;
    this.sent = [];
    FakeSocket.made.push(this);
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
beforeEach(() => {
  FakeSocket.made = [];
  timers = [];
  globalThis.setTimeout = (fn, ms) => timers.push({ fn, ms });
});
afterEach(() => {
  delete globalThis.setTimeout;
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
});
