// Docs: docs/live.md#media — the page's media through Janus (janus.js from Debian's
// libjs-janus-gateway): publish camera + mic with simulcast, one multistream subscriber
// that follows the server's policy, screen share, quality stats, restart after a drop.
// Camera and microphone are acquired by devices.js; with neither the page is receive-only.

/* global Janus, gettext, interpolate */

import { acquire, acquireKind, mediaStatus } from "./devices.js";
import { availableOutgoing, downStats, EMPTY_DOWN, roundTrip } from "./linkstats.js";
import { layers, plan, targets } from "./plan.js";
import { withAudioNack } from "./sdp.js";
import { capSender, uplinkCap } from "./uplink.js";

// Creating the Janus session, and the first PeerConnection reaching ICE connected. ICE gets
// 10 s from its offer so that, with the page's own start-up, a site whose network blocks UDP
// is told within 13 s or so of opening the page (20 s on a loaded two-core machine); ICE on a
// working path, even a 600 ms satellite round trip or TURN over TLS, connects in a few seconds.
export const WS_TIMEOUT_MS = 15000;
export const ICE_TIMEOUT_MS = 10000;
// How often the page measures its links and reports them (`quality`): the server's layer
// choice for a weak site follows within a few reports (issue 12).
export const MEASURE_MS = 2000;

// A failure with a code the page explains (problems.js): "ws" (the media server's WebSocket
// cannot be reached), "ice" (connected, but media (UDP) cannot pass), else "error".
function mediaError(code, message) {
  return Object.assign(new Error(message), { code });
}

// `access.janus_url` may be a path on the page's own origin ("/janus").
export function janusUrl(url, loc = globalThis.location) {
  if (!url.startsWith("/")) return url;
  return `${loc.protocol === "https:" ? "wss" : "ws"}://${loc.host}${url}`;
}

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

// A publisher's offer, and (`accepted`) Janus's answer to it, with audio NACK (sdp.js): Janus
// asks again for audio lost on a site's lossy uplink, and the page sends it again.
function offer(handle, options) {
  return new Promise((resolve, reject) =>
    handle.createOffer({
      ...options,
      customizeSdp: (local) => {
        local.sdp = withAudioNack(local.sdp);
      },
      success: resolve,
      error: reject,
    }),
  );
}

function accepted(jsep) {
  return { ...jsep, sdp: withAudioNack(jsep.sdp) };
}

// The subscriber's answer, with audio NACK negotiated both ways (sdp.js: Janus retransmits
// lost audio on a lossy downlink).
function answer(handle, jsep) {
  return new Promise((resolve, reject) =>
    handle.createAnswer({
      jsep: { ...jsep, sdp: withAudioNack(jsep.sdp) },
      tracks: [{ type: "data" }],
      customizeSdp: (local) => {
        local.sdp = withAudioNack(local.sdp);
      },
      success: resolve,
      error: reject,
    }),
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
    this.want = new Map(); // feed -> {audio, video, substream, temporal, send}
    this.subscribed = new Map(); // subscriber mid -> {feed, feedMid, type}
    this.substreams = new Map(); // subscriber mid -> the layer last asked (plan.js layerKey)
    this.mainFeed = null; // the feed the page shows as its main picture (linkstats.js)
    this.uplink = null; // the cap on what this page sends (uplink.js)
    this.measureDown = true; // measure the subscriber too (HQ's console reports no downlink)
    this.feedStreams = new Map(); // feed -> MediaStream shown by the page
    this.midTracks = new Map(); // subscriber mid -> remote track
    this.switches = 0; // subscriptions moved with `switch` (shown to operators' debugging)
    this.updating = false;
    this.dirty = false;
    this.micWanted = false;
    this.devices = { audio: null, video: null }; // chosen deviceIds (null: the default)
    this.tracks = { audio: null, video: null }; // what we publish
    this.status = null; // {camera, microphone, receiveOnly}
    this.publishedUp = false; // the publisher's PeerConnection is up
    this.iceOk = false; // some PeerConnection of this session reached ICE connected
    this.iceArmed = false; // waiting for the first PeerConnection (ICE_TIMEOUT_MS)
    this.stopped = false;
  }

  get receiveOnly() {
    return !this.tracks.audio && !this.tracks.video;
  }

  async start(access) {
    await initJanus();
    this.access = access;
    await this.acquire();
    if (this.stopped) return;
    const session = await this.connect(access);
    if (this.stopped) {
      session.destroy({ cleanupHandles: true });
      return;
    }
    this.session = session;
    await this.publishCamera();
    this.statsTimer = setInterval(() => this.measure().catch(() => {}), MEASURE_MS);
  }

  // Our own getUserMedia, so that a missing, blocked or busy device is named, not thrown.
  async acquire() {
    const got = await acquire(this.devices);
    if (this.stopped) {
      for (const t of [got.audio, got.video]) t?.stop();
      return;
    }
    this.tracks = { audio: got.audio, video: got.video };
    for (const t of [got.audio, got.video]) {
      // Unplugged during the meeting: the keeper tries the devices again.
      t?.addEventListener("ended", () => this.dispatchEvent(new CustomEvent("trackended", { detail: t.kind })));
    }
    this.setStatus(mediaStatus(got.status));
  }

  setStatus(status) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("mediastatus", { detail: status }));
  }

  // The Janus session over its WebSocket, within WS_TIMEOUT_MS, else failure "ws".
  connect(access) {
    return new Promise((resolve, reject) => {
      let up = false;
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(mediaError("ws", "no answer from the media server"));
      }, WS_TIMEOUT_MS);
      const session = new Janus({
        server: janusUrl(access.janus_url),
        token: access.core_token,
        // TURN over UDP, TCP and TLS with short-lived credentials, for sites whose network
        // blocks UDP or lets only HTTPS out; an empty list leaves host candidates only.
        iceServers: Array.isArray(access.ice_servers) ? access.ice_servers : [],
        success: () => {
          if (settled) {
            // Too late: this attempt was given up already.
            session.destroy({ cleanupHandles: true });
            return;
          }
          up = true;
          settled = true;
          clearTimeout(timer);
          resolve(session);
        },
        error: (err) => {
          if (up) {
            this.lost(String(err));
          } else if (!settled) {
            settled = true;
            clearTimeout(timer);
            reject(mediaError("ws", String(err)));
          }
        },
      });
    });
  }

  // `code`: "ice" when the first PeerConnection never came up, else null (a plain drop).
  lost(why, code = null) {
    if (this.isLost || this.stopped) return;
    this.isLost = true;
    if (!code && this.iceArmed) code = "ice";
    this.dispatchEvent(new CustomEvent("lost", { detail: { why, code } }));
  }

  // The first offer/answer was sent: its PeerConnection must be up within ICE_TIMEOUT_MS.
  armIce() {
    if (this.iceOk || this.iceArmed) return;
    this.iceArmed = true;
    this.iceTimer = setTimeout(() => this.lost("ICE did not connect in time", "ice"), ICE_TIMEOUT_MS);
  }

  iceUp() {
    clearTimeout(this.iceTimer);
    this.iceArmed = false;
    if (this.iceOk) return;
    this.iceOk = true;
    this.dispatchEvent(new CustomEvent("connected"));
  }

  // The link was cut (the control socket's heartbeat): this session is given up at once,
  // without a word to Janus over its WebSocket (stalled by the cut, it would pass nothing
  // for a long while). `discard()`, once the link is back, ends it in Janus.
  abandon() {
    this.stopped = true;
    clearInterval(this.statsTimer);
    clearTimeout(this.iceTimer);
    this.iceArmed = false;
    for (const handle of [this.pub, this.sub, this.screen]) handle?.hangup?.(false);
    this.publishers.clear();
    this.subscribed.clear();
    this.substreams.clear();
    this.midTracks.clear();
    for (const feed of [...this.feedStreams.keys()]) this.dropFeed(feed);
    for (const t of [this.tracks.audio, this.tracks.video]) t?.stop();
  }

  // After `abandon()`, the link back: claim the Janus session over a fresh WebSocket and
  // destroy it, so Janus stops sending to the old PeerConnections now (the VideoRoom cannot
  // kick a subscriber) instead of when its session times out. Best effort.
  discard() {
    const session = this.session;
    this.session = this.pub = this.sub = this.screen = null;
    if (!session) return;
    const destroy = () => session.destroy({ cleanupHandles: false, notifyDestroyed: false, success: () => {}, error: () => {} });
    try {
      session.reconnect({ success: destroy, error: () => {} });
    } catch {
      // the old session is left to Janus's session timeout
    }
  }

  async stop() {
    this.stopped = true;
    clearInterval(this.statsTimer);
    clearTimeout(this.iceTimer);
    this.iceArmed = false;
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
    // janus.js stops what it published; this also covers what it never got.
    for (const t of [this.tracks.audio, this.tracks.video]) t?.stop();
  }

  // --- publishing ------------------------------------------------------------------------

  // Joins the room as a publisher in any case (its events list who publishes what), and
  // publishes what was acquired; with neither camera nor microphone it publishes nothing.
  async publishCamera() {
    const inbox = new Inbox();
    const handle = await attach(this.session, {
      onmessage: (msg, jsep) => {
        if (jsep) handle.handleRemoteJsep({ jsep: accepted(jsep) });
        this.onRoomEvent(msg);
        inbox.deliver(msg, jsep);
      },
      onlocaltrack: (track, on) => {
        this.dispatchEvent(new CustomEvent("localtrack", { detail: { track, on } }));
      },
      webrtcState: (up) => {
        if (up) {
          this.iceUp();
          this.publishedUp = true;
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
    const subscribing = this.addPublishers(msg.publishers || []);
    if (this.receiveOnly) {
      // Receive-only: watch, answer roll call, vote. Its first PeerConnection is the
      // subscriber's: wait for it to be offered, so its ICE check is armed from the start.
      await subscribing;
      return;
    }
    const tracks = [];
    if (this.tracks.audio) tracks.push({ type: "audio", capture: this.tracks.audio, recv: false });
    if (this.tracks.video) tracks.push({ type: "video", capture: this.tracks.video, recv: false, simulcast: true });
    const jsep = await offer(handle, { tracks });
    handle.send({ message: { request: "publish" }, jsep });
    this.armIce();
    await inbox.wait((m, j) => m.configured === "ok" || !!j);
  }

  onRoomEvent(msg) {
    if (msg.videoroom === "destroyed") {
      this.dispatchEvent(new CustomEvent("destroyed"));
      return;
    }
    if (msg.videoroom !== "event") return;
    if (msg.publishers) this.addPublishers(msg.publishers);
    // Janus names a publisher that went as unpublished, leaving, or kicked (by the server:
    // a site no longer connected, an impostor); a kicked one missed here stayed listed.
    const gone = msg.unpublished ?? msg.leaving ?? msg.kicked;
    if (gone && gone !== "ok") {
      this.publishers.delete(gone);
      this.dropFeed(gone);
      this.reconcile();
    }
  }

  addPublishers(list) {
    for (const p of list) this.publishers.set(p.id, (p.streams || []).filter((s) => !s.disabled));
    return this.reconcile();
  }

  // Whether the operator wants the mic on; it only opens when the server allows it.
  setMic(on, allowed) {
    this.micWanted = on;
    this.micAllowed = allowed;
    this.applyMic();
  }

  applyMic() {
    if (!this.pub || !this.tracks.audio) return;
    const open = this.micWanted && this.micAllowed;
    if (open && this.pub.isAudioMuted()) this.pub.unmuteAudio();
    if (!open && !this.pub.isAudioMuted()) this.pub.muteAudio();
  }

  setCamera(on) {
    if (!this.pub || !this.tracks.video) return;
    if (on) this.pub.unmuteVideo();
    else this.pub.muteVideo();
  }

  // Another device of a kind we publish: replace the track in place (no renegotiation).
  // Returns false when this kind is not published (the keeper then starts again).
  async useDevice(kind, deviceId) {
    this.devices[kind] = deviceId;
    const pc = this.pub?.webrtcStuff?.pc;
    const transceiver = pc?.getTransceivers().find((t) => t.sender?.track?.kind === kind);
    if (!transceiver) return false;
    const { track, status } = await acquireKind(kind, deviceId);
    if (!track) throw new Error(interpolate(gettext("That device cannot be used (%s)."), [status]));
    const old = transceiver.sender.track;
    await new Promise((resolve, reject) =>
      this.pub.replaceTracks({
        tracks: [{ type: kind, mid: transceiver.mid, capture: track, simulcast: kind === "video" }],
        success: resolve,
        error: reject,
      }),
    );
    if (old && old !== track) {
      this.pub.webrtcStuff.myStream?.removeTrack(old);
      old.stop();
    }
    this.tracks[kind] = track;
    track.addEventListener("ended", () => this.dispatchEvent(new CustomEvent("trackended", { detail: kind })));
    if (kind === "audio") this.applyMic();
    return true;
  }

  async startScreen() {
    const inbox = new Inbox();
    const handle = await attach(this.session, {
      onmessage: (msg, jsep) => {
        if (jsep) handle.handleRemoteJsep({ jsep: accepted(jsep) });
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

  // The streams we should receive now: wanted ∩ actually published (plan.js).
  targets() {
    return targets(this.want, this.publishers);
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
      if (feedGone(err)) {
        // A publisher re-joined under fresh ids (or left) just before our request: the
        // next state names what to receive; nothing for the operator to do.
        this.dirty = true;
      } else {
        this.dispatchEvent(new CustomEvent("problem", { detail: String(err.message || err) }));
      }
    } finally {
      this.updating = false;
    }
  }

  // One step towards what is wanted: the plan (plan.js) carried out over Janus.
  async reconcileOnce() {
    const wantedTargets = this.targets();
    const p = plan(wantedTargets, this.subscribed, { hasSubscriber: !!this.sub });
    let { subscribe, unsubscribe } = p;
    if (this.sub && p.pairs.length) {
      // The floor or the main source moved: move our existing m-lines to the new feed with
      // VideoRoom `switch` — no renegotiation, the picture comes with the keyframe Janus
      // requests (measured ~3x faster than `update`, BENCHMARKS.md).
      try {
        this.sub.send({ message: { request: "switch", streams: p.pairs } });
        await this.subInbox.wait((m) => m.switched === "ok");
        this.switches += 1;
        ({ subscribe, unsubscribe } = p.afterSwitch);
        // Janus's reply carries the new stream map (mapStreams); the tracks regroup.
      } catch {
        // Fall back to update below (e.g. a stream Janus cannot switch).
      }
    }
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
    // The layer the policy wants, or the site's link allows (plan.js withLink): substream and
    // temporal layer per m-line, and `send: false` to pause a video on sound only — its
    // track stays, so the <video> keeps its last picture.
    const configure = layers(wantedTargets, this.subscribed, this.substreams);
    for (const { mid, key } of configure) this.substreams.set(mid, key);
    if (configure.length && this.sub) {
      const streams = configure.map(({ key, ...stream }) => stream);
      this.sub.send({ message: { request: "configure", streams } });
    }
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
        if (!taken && msg.error_code && !feedGone({ code: msg.error_code, message: msg.error })) {
          this.dispatchEvent(new CustomEvent("problem", { detail: msg.error }));
        }
      },
      onremotetrack: (track, mid, on) => this.onRemoteTrack(track, mid, on),
      webrtcState: (up) => {
        if (up) this.iceUp();
      },
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
    this.armIce(); // the first PeerConnection of a receive-only page
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

  // Every MEASURE_MS: the uplink (publisher: round trip, loss reported by Janus, kbit/s
  // sent) and what arrives (subscriber: linkstats.js `down`). Dispatches "quality" with
  // {rtt, loss, kbps, down, interval_ms} — the page sends it to the server as it is.
  async measure() {
    const pubPc = this.pub?.webrtcStuff?.pc;
    const subPc = this.measureDown ? this.sub?.webrtcStuff?.pc : null;
    if (!pubPc && !subPc) return;
    const [pubStats, subStats] = await Promise.all([pubPc?.getStats().catch(() => null), subPc?.getStats().catch(() => null)]);
    const now = performance.now();
    const intervalMs = this.lastAt !== undefined ? Math.round(now - this.lastAt) : null;
    let bytes = null;
    let lost = null;
    pubStats?.forEach((r) => {
      if (r.type === "outbound-rtp") bytes = (bytes ?? 0) + (r.bytesSent || 0);
      if (r.type === "remote-inbound-rtp" && Number.isFinite(r.fractionLost)) lost = Math.max(lost ?? 0, r.fractionLost * 100);
    });
    const kbps = bytes != null && this.lastBytes != null && intervalMs > 0 ? Math.max(0, ((bytes - this.lastBytes) * 8) / intervalMs) : null;
    this.lastBytes = bytes;
    this.lastAt = now;
    const rtt = roundTrip(pubStats) ?? roundTrip(subStats);
    const main = this.mainVideoMid();
    const down = subStats && this.lastSubStats && intervalMs > 0
      ? downStats(this.lastSubStats, subStats, intervalMs, { mainMid: main, mainTrackId: main != null ? this.midTracks.get(main)?.id ?? null : null })
      : { ...EMPTY_DOWN };
    this.lastSubStats = subStats;
    const quality = { rtt, loss: lost, kbps: kbps == null ? null : Math.round(kbps), down, interval_ms: intervalMs ?? MEASURE_MS };
    this.dispatchEvent(new CustomEvent("quality", { detail: quality }));
    if (pubPc) await this.capUplink(pubPc, { loss: lost, kbps: quality.kbps, available: availableOutgoing(pubStats) }, now);
  }

  // The subscriber m-line of the main picture's video (null: not received).
  mainVideoMid() {
    if (this.mainFeed == null) return null;
    for (const [mid, info] of this.subscribed) if (info.feed === this.mainFeed && info.type === "video") return mid;
    return null;
  }

  // A weak uplink: stop sending the top simulcast layer until it has been clean a while
  // (uplink.js); Janus drops the subscribers of that layer to the next one (`fallback`).
  async capUplink(pc, sample, now) {
    const before = this.uplink?.capped ?? false;
    this.uplink = uplinkCap(this.uplink, sample, now);
    if (this.uplink.capped === before && !this.uplinkDirty) return;
    const sender = pc.getSenders().find((x) => x.track?.kind === "video");
    if (!sender) return;
    try {
      this.uplinkDirty = !(await capSender(sender, this.uplink.capped));
    } catch {
      this.uplinkDirty = true; // try again on the next report
    }
    this.dispatchEvent(new CustomEvent("uplinkcap", { detail: { capped: this.uplink.capped } }));
  }
}

// Janus VideoRoom 428 (no such feed, participant or mid): what we asked for has just gone.
export function feedGone(err) {
  return err?.code === 428 || /no such (feed|mid)/i.test(String(err?.message || ""));
}

// A label for a measured link: good / fair / poor, as the wall and the room page show it.
export function grade({ rtt, loss }) {
  if (rtt == null && loss == null) return "unknown";
  if ((loss ?? 0) > 5 || (rtt ?? 0) > 400) return "poor";
  if ((loss ?? 0) > 1 || (rtt ?? 0) > 150) return "fair";
  return "good";
}

// The cameras and microphones the browser lists now, as one comparable string.
async function deviceList() {
  try {
    const devices = await globalThis.navigator.mediaDevices.enumerateDevices();
    return devices
      .filter((d) => d.kind === "audioinput" || d.kind === "videoinput")
      .map((d) => `${d.kind}:${d.deviceId}`)
      .sort()
      .join(",");
  } catch {
    return "";
  }
}

// Seconds between attempts: 2, 4, 8, 16, 30, 30… (back to 2 after a success).
export const RETRY_STEPS_MS = [2000, 4000, 8000, 16000, 30000];
// A session that stays up this long counts as a success even without a PeerConnection
// (longer than ICE_TIMEOUT_MS, so a page whose ICE fails never resets its back-off).
export const STABLE_MS = 20000;

export function retryDelay(attempt) {
  return RETRY_STEPS_MS[Math.min(attempt, RETRY_STEPS_MS.length - 1)];
}

// Keeps one Media session going while the meeting is live: starts it with fresh access
// from the server, restarts it with capped exponential back-off after it is lost or fails
// (Janus restarted, WebSocket unreachable, ICE failed), stops it when the meeting is not
// live, and starts again at once to retry the devices (button, a device plugged in).
// Exposes `status` (the devices: {camera, microphone, receiveOnly}), `failure` ("ws",
// "ice", "error", "lost" or null) and `problem` ("ws", "ice" or null). Pages listen for
// "created" (to add their own listeners), "started", "failed", "change" (status or failure)
// and "stopped".
export class MediaKeeper extends EventTarget {
  constructor(control, display, { makeMedia = (name) => new Media(name) } = {}) {
    super();
    this.control = control;
    // The control link lost (heartbeat, control.js): the media session goes at once and a
    // fresh one starts the moment the link is back, without back-off (issue 12, item 6).
    this.suspended = false;
    this.abandoned = null;
    this.silentShown = false;
    control.addEventListener?.("status", (e) => {
      if (e.detail === "lost") this.linkSilent();
      else if (e.detail === "connected") this.linkBack();
    });
    control.addEventListener?.("gaveup", () => this.linkLost());
    this.display = display;
    this.makeMedia = makeMedia;
    this.media = null;
    this.timer = null;
    this.attempt = 0;
    this.failure = null;
    this.failMessage = "";
    this.retryAt = null;
    this.status = null;
    this.devices = { audio: null, video: null };
    const md = globalThis.navigator?.mediaDevices;
    md?.addEventListener?.("devicechange", () => this.devicesChanged());
  }

  get problem() {
    return this.failure === "ws" || this.failure === "ice" ? this.failure : null;
  }

  get live() {
    return this.control.state?.meeting.status === "live";
  }

  follow(live) {
    if (live) this.ensure();
    else if (this.media || this.timer) this.stop();
  }

  async ensure() {
    // `media` is set at once, so one session at a time; a failed one stays until its retry.
    if (this.media || this.timer || this.suspended) return;
    const m = this.makeMedia(this.display());
    m.devices = { ...this.devices };
    this.media = m;
    m.addEventListener("lost", (e) => this.media === m && this.fail(e.detail.code, e.detail.why));
    m.addEventListener("connected", () => this.media === m && this.succeeded());
    m.addEventListener("mediastatus", (e) => this.media === m && this.setStatus(e.detail));
    m.addEventListener("trackended", () => this.media === m && this.retrySoon());
    m.addEventListener("published", () => this.control.send("media.published").catch(() => {}));
    m.addEventListener("screenstopped", () => this.control.send("screen.set", { sharing: false }).catch(() => {}));
    this.dispatchEvent(new CustomEvent("created", { detail: m }));
    try {
      const access = await this.control.send("media.access");
      if (this.media !== m) return;
      await m.start(access);
      if (this.media !== m || this.timer) return; // stopped, or lost while starting
      // The server was reached; "ice" holds until a PeerConnection comes up.
      if (!(this.failure === "ice" && m.iceArmed)) this.setFailure(null);
      clearTimeout(this.stableTimer);
      this.stableTimer = setTimeout(() => {
        if (this.media === m && !this.timer) this.attempt = 0;
      }, STABLE_MS);
      this.dispatchEvent(new CustomEvent("started", { detail: m }));
    } catch (err) {
      if (this.media === m) this.fail(err.code || "error", err.message || String(err));
    }
  }

  // The control link is silent: the badge says the connection is lost (not "sending"),
  // the session is kept — the link may come back in a moment.
  linkSilent() {
    if (!this.media || this.failure) return;
    this.silentShown = true;
    this.setFailure("lost");
  }

  // The control link given up: the server drops a silent site and Janus kicks its feeds, so
  // nothing of this session is worth keeping, and its Janus socket is stalled by the cut.
  linkLost() {
    if (this.suspended) return;
    const m = this.media;
    if (!m && !this.timer) return; // nothing was running (the meeting is not live)
    this.suspended = true;
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    this.timer = null;
    this.media = null;
    if (m) {
      m.abandon();
      this.abandoned = m;
    }
    this.failMessage = "";
    this.retryAt = null;
    this.setFailure("lost");
    this.dispatchEvent(new CustomEvent("stopped"));
  }

  linkBack() {
    if (this.silentShown) {
      this.silentShown = false;
      if (!this.suspended && !this.timer && this.failure === "lost") this.setFailure(null);
    }
    if (!this.suspended) return;
    this.suspended = false;
    this.attempt = 0;
    this.abandoned?.discard();
    this.abandoned = null;
    if (this.live) this.ensure();
  }

  succeeded() {
    this.attempt = 0;
    this.setFailure(null);
  }

  fail(code, message = "") {
    if (this.timer) return;
    const retryMs = retryDelay(this.attempt);
    this.attempt += 1;
    clearTimeout(this.stableTimer);
    this.failMessage = message;
    this.retryAt = Date.now() + retryMs;
    this.setFailure(code || "lost");
    this.dispatchEvent(new CustomEvent("failed", { detail: { code: this.failure, message, retryMs } }));
    this.timer = setTimeout(() => this.restart(), retryMs);
  }

  async restart() {
    this.timer = null;
    await this.stop({ keep: true });
    if (this.live) this.ensure();
  }

  // The button "Try camera and microphone again", or a device plugged in: start again now.
  async retryDevices() {
    clearTimeout(this.timer);
    clearTimeout(this.soon);
    this.timer = null;
    this.attempt = 0;
    await this.stop({ keep: true });
    if (this.live) this.ensure();
  }

  retrySoon() {
    clearTimeout(this.soon);
    this.soon = setTimeout(() => this.retryDevices(), 1500);
  }

  // A device came or went: worth a new try if a track we send ended, or if the list of
  // devices really changed (not merely became readable) while something is missing.
  async devicesChanged() {
    if (!this.media || !this.status) return;
    const list = await deviceList();
    const changed = list !== this.knownDevices;
    this.knownDevices = list;
    const ended = Object.values(this.media?.tracks || {}).some((t) => t && t.readyState === "ended");
    const missing = this.status.camera !== "ok" || this.status.microphone !== "ok";
    if (ended || (changed && missing)) this.retrySoon();
  }

  // Choose a camera or microphone; kept across restarts.
  async useDevice(kind, deviceId) {
    this.devices[kind] = deviceId;
    const m = this.media;
    if (m && m.tracks?.[kind] && (await m.useDevice(kind, deviceId))) return;
    await this.retryDevices();
  }

  setStatus(status) {
    const same = JSON.stringify(status) === JSON.stringify(this.status);
    this.status = status;
    deviceList().then((list) => (this.knownDevices = list));
    if (!same) this.dispatchEvent(new CustomEvent("change"));
  }

  setFailure(code) {
    if (code === this.failure) return;
    this.failure = code;
    if (!code) this.retryAt = null;
    this.dispatchEvent(new CustomEvent("change"));
  }

  // Start or stop sharing this page's screen (slides); resolves to whether it is now shared.
  async toggleScreen() {
    const m = this.media;
    if (!m || !m.session) return false;
    if (m.screen) {
      m.stopScreen();
      return false;
    }
    await m.startScreen();
    await this.control.send("screen.set", { sharing: true });
    return true;
  }

  // `keep`: a restart — the last status and failure stay shown until the next session says
  // otherwise; else (the meeting is not live) everything is cleared.
  async stop({ keep = false } = {}) {
    const m = this.media;
    this.media = null;
    if (!keep) {
      clearTimeout(this.timer);
      clearTimeout(this.soon);
      clearTimeout(this.stableTimer);
      this.timer = null;
      this.attempt = 0;
      this.status = this.failure = this.retryAt = null;
      this.failMessage = "";
      this.dispatchEvent(new CustomEvent("change"));
    }
    if (m) await m.stop().catch(() => {});
    this.dispatchEvent(new CustomEvent("stopped"));
  }
}
