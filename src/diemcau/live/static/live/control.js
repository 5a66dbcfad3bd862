// Docs: docs/live.md — the control WebSocket: one per page, state kept in step by sequence
// numbers, reconnects by itself.

const RETRY_MAX_MS = 10000;
// Requests the server does not answer (unless refused: then a "problem" event).
const NO_REPLY = new Set(["snapshot", "media.published", "quality", "media.status", "ping"]);

// The heartbeat (issue 12, item 6): a cut link says nothing, and TCP takes minutes to give
// up, so a page pings every second. After SILENCE_MS without a word from the server its
// status is "lost" (the page says so; nothing is torn down: a loaded PC or server is often
// just late); a word from the server brings it back to "connected". After GIVE_UP_MS the
// socket is given up without waiting for TCP, a new one is tried at once ("gaveup": the media
// session goes too), and a new socket that is not open within OPEN_TIMEOUT_MS is given up
// and tried again, so a try made during the cut never waits out TCP's growing back-off once
// the link is back. The server's side: live/consumers.py (HQ told at 3.5 s; never dropped).
export const PING_MS = 1000;
export const SILENCE_MS = 2500;
export const GIVE_UP_MS = 10000;
export const OPEN_TIMEOUT_MS = 2000;
const WATCH_MS = 250;

export class Control extends EventTarget {
  constructor(meetingId, role, { heartbeat = true, now = () => Date.now(), socket = (url) => new WebSocket(url) } = {}) {
    super();
    this.heartbeat = heartbeat;
    this.now = now;
    this.socket = socket;
    this.heard = 0;
    this.url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/meetings/${meetingId}/${role}/`;
    this.state = null;
    this.seq = 0;
    this.you = null;
    this.pending = new Map();
    this.nextRef = 1;
    this.retryMs = 500;
    this.status = "connecting";
    this.stopped = false;
  }

  start() {
    this.open();
  }

  open() {
    const ws = this.socket(this.url);
    this.ws = ws;
    this.opened = this.now();
    ws.onopen = () => {
      this.retryMs = 500;
      this.heard = this.now();
      this.pinged = 0;
    };
    ws.onmessage = (e) => {
      this.heard = this.now();
      // Silent a while, then heard again on the same socket: the link is back.
      if (this.status === "lost" && this.state !== null) this.setStatus("connected");
      this.onMessage(JSON.parse(e.data));
    };
    if (this.heartbeat && !this.watch) {
      this.checked = this.now();
      this.watch = setInterval(() => this.check(), WATCH_MS);
    }
    ws.onclose = (e) => {
      for (const { reject } of this.pending.values()) reject(new Error(gettext("Connection lost")));
      this.pending.clear();
      // The server's own close codes (live/revoke.py): none of them is worth a retry.
      const final = { 4401: "revoked", 4403: "refused", 4404: "refused", 4410: "ended" }[e.code];
      if (final) {
        this.stopped = true;
        clearInterval(this.watch);
        this.setStatus(final);
        return;
      }
      if (this.stopped) return;
      this.setStatus("reconnecting");
      setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    };
  }

  // Every WATCH_MS: ping once a second while open; a silent open socket is a lost link, a
  // socket that does not open in time is tried again.
  check() {
    const ws = this.ws;
    if (this.stopped || !ws) return;
    const now = this.now();
    const late = this.checked ? now - this.checked - WATCH_MS : 0;
    this.checked = now;
    if (late > 1000) {
      // The page itself was held up (a busy PC, a tab in the background): what the server
      // sent meanwhile may not be read yet. The silence counts from now.
      this.heard = Math.max(this.heard, now - WATCH_MS);
      this.opened = Math.max(this.opened, now - WATCH_MS);
      return;
    }
    if (ws.readyState === WebSocket.OPEN) {
      const quiet = now - this.heard;
      if (quiet > GIVE_UP_MS) {
        this.drop(ws, "lost");
        this.dispatchEvent(new CustomEvent("gaveup"));
        return;
      }
      if (quiet > SILENCE_MS && this.status !== "lost") this.setStatus("lost");
      if (!this.pinged || now - this.pinged >= PING_MS) {
        this.pinged = now;
        this.send("ping").catch(() => {});
      }
    } else if (ws.readyState === WebSocket.CONNECTING && now - this.opened > OPEN_TIMEOUT_MS) {
      this.drop(ws, this.status === "lost" ? "lost" : "reconnecting");
    }
  }

  // Give up a socket without waiting for TCP (its close would come minutes later) and try a
  // new one at once.
  drop(ws, status) {
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close();
    } catch {
      // already closing
    }
    for (const { reject } of this.pending.values()) reject(new Error(gettext("Connection lost")));
    this.pending.clear();
    if (this.status !== status) this.setStatus(status);
    this.open();
  }

  setStatus(status) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }

  onMessage(msg) {
    switch (msg.type) {
      case "snapshot":
        this.state = msg.state;
        this.seq = msg.seq;
        this.you = msg.you;
        this.setStatus("connected");
        this.emitState("snapshot");
        break;
      case "event":
        if (this.state === null) return;
        if (msg.seq <= this.seq) return; // already applied (snapshot was newer)
        if (msg.seq !== this.seq + 1) {
          // A gap: something was missed; the snapshot is the truth.
          this.send("snapshot").catch(() => {});
          return;
        }
        Object.assign(this.state, msg.state);
        this.seq = msg.seq;
        if (msg.message) {
          this.state.chat = [...(this.state.chat || []), msg.message].slice(-50);
          this.dispatchEvent(new CustomEvent("chat", { detail: msg.message }));
        }
        this.emitState(msg.kind);
        break;
      case "seq":
        // The sequence heartbeat (live/seqbeat.py): behind the meeting means the last event
        // was missed (nothing came after it to show a gap): the snapshot is the truth.
        if (this.state !== null && msg.seq > this.seq && this.askedFor !== msg.seq) {
          this.askedFor = msg.seq;
          this.send("snapshot").catch(() => {});
        }
        break;
      case "ok":
      case "error":
      case "media.access": {
        const waiter = this.pending.get(msg.ref);
        if (waiter) {
          this.pending.delete(msg.ref);
          if (msg.type === "error") waiter.reject(new Error(msg.message));
          else waiter.resolve(msg);
        } else if (msg.type === "error") {
          this.dispatchEvent(new CustomEvent("problem", { detail: msg.message }));
        }
        break;
      }
      case "quality":
        this.dispatchEvent(new CustomEvent("quality", { detail: msg }));
        break;
      case "media_status":
        this.dispatchEvent(new CustomEvent("media_status", { detail: msg }));
        break;
      case "link":
        // HQ: a site's page fell silent (its link cut?) or was heard again.
        this.dispatchEvent(new CustomEvent("link", { detail: msg }));
        break;
      default:
        break;
    }
  }

  emitState(kind) {
    this.dispatchEvent(new CustomEvent("state", { detail: { kind, state: this.state } }));
  }

  // Send a request; resolves with the server's reply, rejects with its error message.
  send(type, payload = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(gettext("Not connected to the server")));
    }
    const ref = this.nextRef++;
    this.ws.send(JSON.stringify({ type, ref, ...payload }));
    if (NO_REPLY.has(type)) return Promise.resolve();
    return new Promise((resolve, reject) => this.pending.set(ref, { resolve, reject }));
  }

  site(id) {
    return (this.state?.sites || []).find((s) => s.id === id);
  }
}
