// Docs: docs/live.md — the control WebSocket: one per page, state kept in step by sequence
// numbers, reconnects by itself.

const RETRY_MAX_MS = 10000;
// Requests the server does not answer (unless refused: then a "problem" event).
const NO_REPLY = new Set(["snapshot", "media.published", "quality", "media.status"]);

export class Control extends EventTarget {
  constructor(meetingId, role) {
    super();
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
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 500;
    };
    ws.onmessage = (e) => this.onMessage(JSON.parse(e.data));
    ws.onclose = (e) => {
      for (const { reject } of this.pending.values()) reject(new Error(gettext("Connection lost")));
      this.pending.clear();
      if (e.code === 4403 || e.code === 4404) {
        this.setStatus("refused");
        return;
      }
      if (this.stopped) return;
      this.setStatus("reconnecting");
      setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    };
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
