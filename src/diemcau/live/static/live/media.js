// Docs: docs/live.md#media — the page's media through Janus (janus.js from Debian's
// libjs-janus-gateway): publish camera + mic with simulcast, one multistream subscriber
// that follows the server's policy, screen share, quality stats, restart after a drop.

/* global Janus */

let janusReady = null;
function initJanus() {
  if (!janusReady) {
    janusReady = new Promise((resolve) => Janus.init({ debug: false, callback: resolve }));
  }
  return janusReady;
}

function attach(session, callbacks) {
  return new Promise((resolve, reject) => {
    session.attach({
      plugin: "janus.plugin.videoroom",
      opaqueId: "diemcau-" + Janus.randomString(8),
      success: resolve,
      error: reject,
      ...callbacks,
    });
  });
}

function offer(handle, options) {
  return new Promise((resolve, reject) => handle.createOffer({ ...options, success: resolve, error: reject }));
}

function answer(handle, jsep) {
  return new Promise((resolve, reject) =>
    handle.createAnswer({ jsep, tracks: [{ type: "data" }], success: resolve, error: reject }),
  );
}

// Waits for the next plugin message on a handle that matches `predicate`.
class Inbox {
  constructor() {
    this.waiters = [];
  }
  wait(predicate, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error("Janus did not answer in time"));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
  deliver(msg, jsep) {
    for (const waiter of [...this.waiters]) {
      if (msg.error_code) {
        clearTimeout(waiter.timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.reject(Object.assign(new Error(msg.error), { code: msg.error_code }));
        return true;
      }
      if (waiter.predicate(msg, jsep)) {
        clearTimeout(waiter.timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve({ msg, jsep });
        return true;
      }
    }
    return false;
  }
}

export class Media extends EventTarget {
  constructor(display) {
    super();
    this.display = display;
    this.session = null;
    this.pub = null;
    this.sub = null;
    this.screen = null;
    this.publishers = new Map(); // feed -> streams [{type, mid, ...}]
    this.want = new Map(); // feed -> {audio, video, substream}
    this.subscribed = new Map(); // subscriber mid -> {feed, feedMid, type}
    this.substreams = new Map(); // subscriber mid -> substream asked
    this.feedStreams = new Map(); // feed -> MediaStream shown by the page
    this.midTracks = new Map(); // subscriber mid -> remote track
    this.switches = 0; // subscriptions moved with `switch` (shown to operators' debugging)
    this.updating = false;
    this.dirty = false;
    this.micWanted = false;
    this.devices = { audio: null, video: null };
  }

  async start(access) {
    await initJanus();
    this.access = access;
    this.session = await new Promise((resolve, reject) => {
      let up = false;
      const session = new Janus({
        server: access.janus_url,
        token: access.core_token,
        success: () => {
          up = true;
          resolve(session);
        },
        error: (err) => {
          if (!up) reject(new Error(String(err)));
          else this.lost(String(err));
        },
      });
    });
    await this.publishCamera();
    this.statsTimer = setInterval(() => this.measure(), 5000);
  }

  lost(why) {
    if (this.isLost) return;
    this.isLost = true;
    this.dispatchEvent(new CustomEvent("lost", { detail: why }));
  }

  async stop() {
    clearInterval(this.statsTimer);
    const session = this.session;
    this.session = this.pub = this.sub = this.screen = null;
    this.publishers.clear();
    this.subscribed.clear();
    this.substreams.clear();
    this.midTracks.clear();
    for (const feed of [...this.feedStreams.keys()]) this.dropFeed(feed);
    if (session) {
      await new Promise((resolve) => session.destroy({ cleanupHandles: true, success: resolve, error: resolve }));
    }
  }

  // --- publishing ------------------------------------------------------------------------

  async publishCamera() {
    const inbox = new Inbox();
    const handle = await attach(this.session, {
      onmessage: (msg, jsep) => {
        if (jsep) handle.handleRemoteJsep({ jsep });
        this.onRoomEvent(msg);
        inbox.deliver(msg, jsep);
      },
      onlocaltrack: (track, on) => {
        this.dispatchEvent(new CustomEvent("localtrack", { detail: { track, on } }));
      },
      webrtcState: (up) => {
        if (up) {
          this.dispatchEvent(new CustomEvent("published", { detail: { feed: this.access.feed } }));
          this.applyMic();
        } else this.lost("publisher PeerConnection closed");
      },
      iceState: (state) => {
        if (state === "failed") this.lost("ICE failed");
      },
      slowLink: (uplink, lost) => {
        this.dispatchEvent(new CustomEvent("slowlink", { detail: { uplink, lost } }));
      },
    });
    this.pub = handle;
    handle.send({
      message: {
        request: "join",
        ptype: "publisher",
        room: this.access.room,
        id: this.access.feed,
        display: this.display,
        token: this.access.room_token,
      },
    });
    const { msg } = await inbox.wait((m) => m.videoroom === "joined");
    this.addPublishers(msg.publishers || []);
    const tracks = [
      { type: "audio", capture: this.devices.audio ? { deviceId: { exact: this.devices.audio } } : true, recv: false },
      {
        type: "video",
        capture: this.devices.video ? { deviceId: { exact: this.devices.video } } : true,
        recv: false,
        simulcast: true,
      },
    ];
    let jsep;
    try {
      jsep = await offer(handle, { tracks });
    } catch (err) {
      // No camera (or refused): publish the microphone alone rather than nothing.
      jsep = await offer(handle, { tracks: [tracks[0]] });
      this.dispatchEvent(new CustomEvent("problem", { detail: gettext("Camera not available: sending sound only.") }));
    }
    handle.send({ message: { request: "publish" }, jsep });
    await inbox.wait((m, j) => m.configured === "ok" || !!j);
  }

  onRoomEvent(msg) {
    if (msg.videoroom === "destroyed") {
      this.dispatchEvent(new CustomEvent("destroyed"));
      return;
    }
    if (msg.videoroom !== "event") return;
    if (msg.publishers) this.addPublishers(msg.publishers);
    const gone = msg.unpublished ?? msg.leaving;
    if (gone && gone !== "ok") {
      this.publishers.delete(gone);
      this.dropFeed(gone);
      this.reconcile();
    }
  }

  addPublishers(list) {
    for (const p of list) this.publishers.set(p.id, (p.streams || []).filter((s) => !s.disabled));
    this.reconcile();
  }

  // Whether the operator wants the mic on; it only opens when the server allows it.
  setMic(on, allowed) {
    this.micWanted = on;
    this.micAllowed = allowed;
    this.applyMic();
  }

  applyMic() {
    if (!this.pub) return;
    const open = this.micWanted && this.micAllowed;
    if (open && this.pub.isAudioMuted()) this.pub.unmuteAudio();
    if (!open && !this.pub.isAudioMuted()) this.pub.muteAudio();
  }

  setCamera(on) {
    if (!this.pub) return;
    if (on) this.pub.unmuteVideo();
    else this.pub.muteVideo();
  }

  async useDevice(kind, deviceId) {
    this.devices[kind] = deviceId;
    if (!this.pub) return;
    const pc = this.pub.webrtcStuff.pc;
    const transceiver = pc?.getTransceivers().find((t) => t.sender?.track?.kind === kind);
    if (!transceiver) return;
    await new Promise((resolve, reject) =>
      this.pub.replaceTracks({
        tracks: [{ type: kind, mid: transceiver.mid, capture: { deviceId: { exact: deviceId } }, simulcast: kind === "video" }],
        success: resolve,
        error: reject,
      }),
    );
  }

  async startScreen() {
    const inbox = new Inbox();
    const handle = await attach(this.session, {
      onmessage: (msg, jsep) => {
        if (jsep) handle.handleRemoteJsep({ jsep });
        inbox.deliver(msg, jsep);
      },
      onlocaltrack: (track, on) => {
        if (!on) this.stopScreen();
      },
    });
    this.screen = handle;
    handle.send({
      message: {
        request: "join",
        ptype: "publisher",
        room: this.access.room,
        id: this.access.screen_feed,
        display: this.display + " (screen)",
        token: this.access.room_token,
      },
    });
    await inbox.wait((m) => m.videoroom === "joined");
    const jsep = await offer(handle, { tracks: [{ type: "screen", capture: true, recv: false }] });
    handle.send({ message: { request: "publish" }, jsep });
    await inbox.wait((m, j) => m.configured === "ok" || !!j);
  }

  stopScreen() {
    const handle = this.screen;
    this.screen = null;
    if (handle) {
      handle.send({ message: { request: "leave" } });
      handle.detach();
      this.dispatchEvent(new CustomEvent("screenstopped"));
    }
  }

  // --- subscribing -----------------------------------------------------------------------

  setWanted(want) {
    this.want = want;
    this.reconcile();
  }

  // The streams we should receive now: wanted ∩ actually published.
  targets() {
    const out = new Map(); // key feed:feedMid -> {feed, mid, substream}
    for (const [feed, w] of this.want) {
      for (const s of this.publishers.get(feed) || []) {
        if ((s.type === "audio" && w.audio) || (s.type === "video" && w.video)) {
          out.set(`${feed}:${s.mid}`, { feed, mid: s.mid, type: s.type, substream: w.substream });
        }
      }
    }
    return out;
  }

  async reconcile() {
    if (!this.session || !this.pub) return;
    if (this.updating) {
      this.dirty = true;
      return;
    }
    this.updating = true;
    try {
      do {
        this.dirty = false;
        await this.reconcileOnce();
      } while (this.dirty);
    } catch (err) {
      this.dispatchEvent(new CustomEvent("problem", { detail: String(err.message || err) }));
    } finally {
      this.updating = false;
    }
  }

  async reconcileOnce() {
    const targets = this.targets();
    const current = new Map();
    for (const [mid, info] of this.subscribed) current.set(`${info.feed}:${info.feedMid}`, mid);
    let subscribe = [...targets.entries()]
      .filter(([k]) => !current.has(k))
      .map(([, t]) => ({ feed: t.feed, mid: t.mid, type: t.type }));
    let unsubscribe = [...current.entries()]
      .filter(([k]) => !targets.has(k))
      .map(([k, subMid]) => {
        const [feed, mid] = k.split(":");
        return { feed: Number(feed), mid, subMid, type: this.subscribed.get(subMid)?.type };
      });
    if (this.sub && subscribe.length && unsubscribe.length) {
      // The floor or the main source moved: move our existing m-lines to the new feed with
      // VideoRoom `switch` — no renegotiation, the picture comes with the keyframe Janus
      // requests (measured ~3x faster than `update`, BENCHMARKS.md).
      const pairs = [];
      const free = [...unsubscribe];
      for (const want of subscribe) {
        const i = free.findIndex((u) => u.type === want.type);
        if (i >= 0) pairs.push({ feed: want.feed, mid: want.mid, sub_mid: free.splice(i, 1)[0].subMid });
      }
      if (pairs.length) {
        try {
          this.sub.send({ message: { request: "switch", streams: pairs } });
          await this.subInbox.wait((m) => m.switched === "ok");
          this.switches += 1;
          subscribe = subscribe.filter((w) => !pairs.some((p) => p.feed === w.feed && p.mid === w.mid));
          unsubscribe = free;
          // Janus's reply carries the new stream map (mapStreams); the tracks regroup.
        } catch {
          // Fall back to update below (e.g. a stream Janus cannot switch).
        }
      }
    }
    subscribe = subscribe.map(({ feed, mid }) => ({ feed, mid }));
    unsubscribe = unsubscribe.map(({ feed, mid }) => ({ feed, mid }));
    if (!this.sub) {
      if (subscribe.length === 0) return;
      await this.subscribeFirst(subscribe);
    } else if (subscribe.length || unsubscribe.length) {
      const req = { request: "update" };
      if (subscribe.length) req.subscribe = subscribe;
      if (unsubscribe.length) req.unsubscribe = unsubscribe;
      this.sub.send({ message: req });
      const { jsep } = await this.subInbox.wait((m) => m.videoroom === "updated" || m.videoroom === "event");
      if (jsep) await this.answerSub(jsep);
    }
    // Layers: ask Janus for the simulcast layer the policy wants (a switch brings a keyframe).
    const configure = [];
    for (const [mid, info] of this.subscribed) {
      if (info.type !== "video") continue;
      const t = targets.get(`${info.feed}:${info.feedMid}`);
      if (t && this.substreams.get(mid) !== t.substream) {
        this.substreams.set(mid, t.substream);
        configure.push({ mid, substream: t.substream });
      }
    }
    if (configure.length && this.sub) this.sub.send({ message: { request: "configure", streams: configure } });
  }

  async subscribeFirst(streams) {
    const inbox = new Inbox();
    this.subInbox = inbox;
    const handle = await attach(this.session, {
      onmessage: (msg, jsep) => {
        if (msg.streams) this.mapStreams(msg.streams);
        const taken = inbox.deliver(msg, jsep);
        // Janus renegotiates on its own when a publisher we receive leaves: answer it.
        if (!taken && jsep && this.sub) {
          this.answerSub(jsep).catch((err) => this.dispatchEvent(new CustomEvent("problem", { detail: String(err) })));
        }
        if (!taken && msg.error_code) this.dispatchEvent(new CustomEvent("problem", { detail: msg.error }));
      },
      onremotetrack: (track, mid, on) => this.onRemoteTrack(track, mid, on),
      iceState: (state) => {
        if (state === "failed") this.lost("subscriber ICE failed");
      },
    });
    this.sub = handle;
    handle.send({
      message: {
        request: "join",
        ptype: "subscriber",
        room: this.access.room,
        streams,
        use_msid: false,
        token: this.access.room_token,
      },
    });
    const { jsep } = await inbox.wait((m, j) => m.videoroom === "attached" && !!j);
    await this.answerSub(jsep);
  }

  async answerSub(jsep) {
    const reply = await answer(this.sub, jsep);
    this.sub.send({ message: { request: "start" }, jsep: reply });
  }

  mapStreams(streams) {
    const seen = new Set();
    for (const s of streams) {
      if (s.type === "data" || s.active === false || s.feed_id === undefined) continue;
      seen.add(s.mid);
      this.subscribed.set(s.mid, { feed: s.feed_id, feedMid: s.feed_mid, type: s.type });
    }
    for (const mid of [...this.subscribed.keys()]) {
      if (!seen.has(mid)) {
        this.subscribed.delete(mid);
        this.substreams.delete(mid);
      }
    }
    this.regroup();
  }

  onRemoteTrack(track, mid, on) {
    if (on) this.midTracks.set(mid, track);
    else if (this.midTracks.get(mid) === track) this.midTracks.delete(mid);
    this.regroup();
  }

  // Janus reuses a subscriber m-line (and so its track) for another feed after an update:
  // the feed a track belongs to comes from the latest stream map, not from when it arrived.
  regroup() {
    const byFeed = new Map();
    for (const [mid, track] of this.midTracks) {
      const info = this.subscribed.get(mid);
      if (!info || track.readyState === "ended") continue;
      if (!byFeed.has(info.feed)) byFeed.set(info.feed, []);
      byFeed.get(info.feed).push(track);
    }
    for (const feed of [...this.feedStreams.keys()]) if (!byFeed.has(feed)) this.dropFeed(feed);
    for (const [feed, tracks] of byFeed) {
      let stream = this.feedStreams.get(feed);
      if (!stream) {
        stream = new MediaStream();
        this.feedStreams.set(feed, stream);
      }
      const have = stream.getTracks();
      const changed = have.length !== tracks.length || have.some((t) => !tracks.includes(t));
      if (!changed) continue;
      for (const t of have) if (!tracks.includes(t)) stream.removeTrack(t);
      for (const t of tracks) if (!have.includes(t)) stream.addTrack(t);
      this.dispatchEvent(new CustomEvent("feed", { detail: { feed, stream } }));
    }
  }

  dropFeed(feed) {
    if (this.feedStreams.delete(feed)) this.dispatchEvent(new CustomEvent("feedgone", { detail: { feed } }));
  }

  // --- connection quality ----------------------------------------------------------------

  async measure() {
    const pc = this.pub?.webrtcStuff?.pc;
    if (!pc) return;
    const stats = await pc.getStats();
    let rtt = null;
    let bytes = 0;
    let lost = null;
    stats.forEach((r) => {
      if (r.type === "candidate-pair" && r.nominated && r.currentRoundTripTime !== undefined) rtt = r.currentRoundTripTime * 1000;
      if (r.type === "outbound-rtp") bytes += r.bytesSent || 0;
      if (r.type === "remote-inbound-rtp" && r.fractionLost !== undefined) lost = Math.max(lost ?? 0, r.fractionLost * 100);
    });
    const now = performance.now();
    const kbps = this.lastBytes !== undefined ? ((bytes - this.lastBytes) * 8) / (now - this.lastAt) : null;
    this.lastBytes = bytes;
    this.lastAt = now;
    const quality = { rtt, loss: lost, kbps };
    this.dispatchEvent(new CustomEvent("quality", { detail: quality }));
  }
}

// A label for a measured link: good / fair / poor, as the wall and the room page show it.
export function grade({ rtt, loss }) {
  if (rtt == null && loss == null) return "unknown";
  if ((loss ?? 0) > 5 || (rtt ?? 0) > 400) return "poor";
  if ((loss ?? 0) > 1 || (rtt ?? 0) > 150) return "fair";
  return "good";
}

// Keeps one Media session going while the meeting is live: starts it with fresh access
// from the server, restarts it 2 s after it is lost (Janus restarted, ICE failed), stops it
// when the meeting is not live. Pages listen for "created" (to add their own listeners),
// "started", "failed", "restarting" and "stopped".
export class MediaKeeper extends EventTarget {
  constructor(control, display) {
    super();
    this.control = control;
    this.display = display;
    this.media = null;
    this.starting = false;
    this.timer = null;
  }

  follow(live) {
    if (live) this.ensure();
    else if (this.media) this.stop();
  }

  async ensure() {
    if (this.media || this.starting) return;
    this.starting = true;
    const m = new Media(this.display());
    m.addEventListener("lost", () => this.restartSoon());
    m.addEventListener("published", () => this.control.send("media.published"));
    m.addEventListener("screenstopped", () => this.control.send("screen.set", { sharing: false }).catch(() => {}));
    this.dispatchEvent(new CustomEvent("created", { detail: m }));
    try {
      const access = await this.control.send("media.access");
      this.media = m;
      await m.start(access);
      this.dispatchEvent(new CustomEvent("started", { detail: m }));
    } catch (err) {
      this.media = m;
      this.dispatchEvent(new CustomEvent("failed", { detail: err.message || String(err) }));
      this.restartSoon();
    } finally {
      this.starting = false;
    }
  }

  restartSoon() {
    if (this.timer) return;
    this.dispatchEvent(new CustomEvent("restarting"));
    this.timer = setTimeout(async () => {
      this.timer = null;
      await this.stop();
      if (this.control.state?.meeting.status === "live") this.ensure();
    }, 2000);
  }

  // Start or stop sharing this page's screen (slides); resolves to whether it is now shared.
  async toggleScreen() {
    const m = this.media;
    if (!m) return false;
    if (m.screen) {
      m.stopScreen();
      return false;
    }
    await m.startScreen();
    await this.control.send("screen.set", { sharing: true });
    return true;
  }

  async stop() {
    const m = this.media;
    this.media = null;
    if (m) await m.stop().catch(() => {});
    this.dispatchEvent(new CustomEvent("stopped"));
  }
}
