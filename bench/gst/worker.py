"""A media worker for `python -m bench --generator gst`: many synthetic sites' WebRTC
connections in one GStreamer pipeline, driven over line-JSON on stdin/stdout.

Runs under Debian's /usr/bin/python3 (PyGObject and GStreamer's introspection data are
Debian packages for that interpreter, not for the project's virtualenv); imports nothing
of the project. The driver (bench/native.py) keeps all signalling — the control socket,
Janus's WebSocket, the media policy — and hands this process only SDP.

Per-packet work is native: RTP packetisation (rtpvp8pay, rtpopuspay), SRTP, DTLS, ICE
(webrtcbin, libnice) and counting (identity's num-buffers / num-bytes). Python touches each
*frame* once on the way out (a stored VP8 or Opus frame pushed into an appsrc; the same
Gst.Buffer is shared by every site, appsrc timestamps a shallow copy) and each received
*keyframe* once (a pad probe after `identity drop-buffer-flags=delta-unit`). Received
streams are polled every POLL_S for gaps.

Commands (one JSON object per line, "id" echoed in the reply):
  {"op": "publish", "id", "pc"}              -> {"id", "sdp"} the offer (ICE gathered)
  {"op": "answer", "id", "pc", "sdp"}        -> {"id"} Janus's answer applied
  {"op": "subscribe", "id", "pc", "sdp"}     -> {"id", "sdp"} our answer to Janus's offer
  {"op": "reset", "id", "pc", "mids"}        -> {"id"} counters of those streams from zero
  {"op": "close", "id", "pc"}                -> {"id"}
  {"op": "stats", "id"}                      -> {"id", "streams": {"pc/mid": [...]}}
Events: {"ev": "keyframe", "pc", "mid", "t"} on a stream's first keyframe since reset.
Times are time.monotonic() (CLOCK_MONOTONIC, the same clock as the driver's).
"""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import GLib, Gst, GstApp, GstSdp, GstWebRTC  # noqa: E402, F401 - GstApp: AppSrc.push_buffer

POLL_S = 0.1
KEYFRAME_MIN_INTERVAL_S = 0.1
LAYERS = ("audio", "low", "high")  # publisher mids 0, 1, 2, in this order
CAPS = {
    "audio": "audio/x-opus,channel-mapping-family=0,channels=2,rate=48000",
    "low": "video/x-vp8,width=320,height=180,framerate=15/1",
    "high": "video/x-vp8,width=1280,height=720,framerate=30/1",
}
# What each transceiver offers, before any buffer has given its payloader's caps.
RTP_CAPS = {
    "audio": "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000",
    "low": "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
    "high": "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
}
PAY = {
    "audio": "rtpopuspay pt=111",
    "low": "rtpvp8pay pt=96 picture-id-mode=15-bit",
    "high": "rtpvp8pay pt=96 picture-id-mode=15-bit",
}

_out_lock = threading.Lock()
TRACE = bool(os.environ.get("BENCH_GST_TRACE"))
_KEPT: list[Any] = []  # see Peer.__init__


def emit(message: dict[str, Any]) -> None:
    line = json.dumps(message, separators=(",", ":"))
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def read_frames(path: Path) -> list[bytes]:
    """A layer's loop as the driver wrote it: [u32 length][frame] repeated."""
    data = path.read_bytes()
    frames, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from("<I", data, i)
        frames.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return frames


class Loop:
    """One layer's stored frames as Gst.Buffers, built once and shared by every site."""

    def __init__(self, frames: list[bytes], fps: int) -> None:
        self.buffers = [Gst.Buffer.new_wrapped(f) for f in frames]
        self.fps = fps


class Sender:
    """One site's layer: an appsrc fed from the shared loop; a keyframe request (from
    Janus's PLI/FIR, arriving as an upstream force-key-unit event) restarts the loop at
    its keyframe, as a browser's encoder answers one."""

    def __init__(self, src: Gst.Element, loop: Loop, video: bool) -> None:
        self.src = src
        self.loop = loop
        self.index = 0
        self.wanted = False
        self.last_key = 0.0
        self.video = video
        if video:
            src.get_static_pad("src").add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._on_event)

    def _on_event(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        event = info.get_event()
        if event is not None and event.type == Gst.EventType.CUSTOM_UPSTREAM:
            s = event.get_structure()
            if s is not None and s.get_name() == "GstForceKeyUnit":
                self.wanted = True
                if TRACE:
                    at = time.monotonic()
                    sys.stderr.write(f"{at:.3f} keyframe request {self.src.get_name()}\n")
        return Gst.PadProbeReturn.OK

    def push(self, now: float) -> None:
        if self.wanted and now - self.last_key >= KEYFRAME_MIN_INTERVAL_S:
            self.wanted = False
            self.index = 0
        if self.index == 0:
            self.last_key = now
            if TRACE and self.video:
                sys.stderr.write(f"{now:.3f} keyframe sent {self.src.get_name()}\n")
        # A shallow copy (the frame's memory is shared): appsrc stamps it with the time.
        self.src.push_buffer(self.loop.buffers[self.index].copy())
        self.index = (self.index + 1) % len(self.loop.buffers)


class Stream:
    """What one received stream delivered: counted natively, read every POLL_S."""

    def __init__(self, pc: str, mid: str, kind: str, counter: Gst.Element) -> None:
        self.pc, self.mid, self.kind, self.counter = pc, mid, kind, counter
        self.reset()

    def reset(self) -> None:
        self.base = self._read()
        self.packets = self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None
        self.max_gap = 0.0
        self.gaps_over_2s = 0
        self.keyframes = 0
        self.first_keyframe: float | None = None

    def _read(self) -> tuple[int, int]:
        s = self.counter.get_property("stats")
        return int(s.get_value("num-buffers")), int(s.get_value("num-bytes"))

    def poll(self, now: float) -> None:
        buffers, size = self._read()
        packets = buffers - self.base[0]
        if packets > self.packets:
            if self.last is None:
                self.first = now
            else:
                gap = now - self.last
                self.max_gap = max(self.max_gap, gap)
                if gap > 2.0:
                    self.gaps_over_2s += 1
            self.last = now
            self.packets = packets
            self.bytes = size - self.base[1]

    def on_keyframe(self, now: float) -> None:
        self.keyframes += 1
        if TRACE:
            sys.stderr.write(f"{now:.3f} keyframe received pc{self.pc}/{self.mid}\n")
        if self.first_keyframe is None:
            self.first_keyframe = now
            emit({"ev": "keyframe", "pc": self.pc, "mid": self.mid, "t": now})

    def report(self) -> list[Any]:
        return [
            self.packets,
            self.bytes,
            self.first,
            self.last,
            round(self.max_gap, 3),
            self.gaps_over_2s,
            self.keyframes,
        ]


class Peer:
    def __init__(self, worker: Worker, pc: str) -> None:
        self.worker = worker
        self.pc = pc
        self.bin = Gst.Bin.new(f"pc{pc}")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", f"webrtc{pc}")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        # No UPnP (libnice would open a GUPnP context per connection: measured, it cost the
        # worker most of a core at 67 sites) and no ICE over TCP (Janus here has none).
        ice = self.webrtc.get_property("ice-agent")
        agent = ice.get_property("agent")
        ice.set_property("ice-tcp", False)
        agent.set_property("upnp", False)
        # webrtcbin 1.22's getter hands out these objects without a reference of their
        # own: dropping the Python wrappers would destroy webrtcbin's ICE agent (seen).
        _KEPT.extend((ice, agent))
        self.bin.add(self.webrtc)
        self.senders: list[Sender] = []
        self.streams: dict[str, Stream] = {}
        self.gathered: list[Any] = []
        self.webrtc.connect("notify::ice-gathering-state", self._on_gathering)
        self.webrtc.connect("pad-added", self._on_pad)
        worker.pipeline.add(self.bin)

    # --- ICE: the SDP handed back carries every candidate (no trickle) ---------------

    def _on_gathering(self, *_: Any) -> None:
        state = self.webrtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(self._gathered)

    def _gathered(self) -> bool:
        waiting, self.gathered = self.gathered, []
        for reply in waiting:
            reply()
        return False

    def _when_gathered(self, reply: Any) -> None:
        """Call reply() once ICE gathering is complete (in the main loop's thread, as
        `_gathered` runs, so that the two cannot miss each other)."""

        def check() -> bool:
            state = self.webrtc.get_property("ice-gathering-state")
            if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
                reply()
            else:
                self.gathered.append(reply)
            return False

        GLib.idle_add(check)

    def local_sdp(self) -> str:
        desc = self.webrtc.get_property("local-description")
        return str(desc.sdp.as_text())

    # --- publishing ---------------------------------------------------------------------

    def publish(self, ident: int) -> None:
        for layer in LAYERS:
            chain = Gst.parse_bin_from_description(
                f"appsrc name=src is-live=true do-timestamp=true format=time "
                f'caps="{CAPS[layer]}" max-buffers=4 leaky-type=downstream ! {PAY[layer]}',
                True,
            )
            self.bin.add(chain)
            chain.link(self.webrtc)
            src = chain.get_by_name("src")
            sender = Sender(src, self.worker.loops[layer], layer != "audio")
            self.senders.append(sender)
            self.worker.senders[layer].append(sender)
        for i, layer in enumerate(LAYERS):
            trans = self.webrtc.emit("get-transceiver", i)
            trans.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
            trans.set_property("codec-preferences", Gst.Caps.from_string(RTP_CAPS[layer]))
        self.bin.sync_state_with_parent()

        self.webrtc.emit("create-offer", None, self._then_local(ident, "offer"))

    def _then_local(self, ident: int, kind: str) -> Gst.Promise:
        """The promise for create-offer / create-answer: the description made local, and
        the driver answered with its SDP once ICE has gathered (or with why it failed)."""

        def made(promise: Gst.Promise, _: Any) -> None:
            reply = promise.get_reply()
            description = reply.get_value(kind) if reply is not None else None
            if description is None:
                error = reply.to_string() if reply else None
                self.worker.reply(ident, error=f"create-{kind}: {error}")
                return
            self.webrtc.emit("set-local-description", description, None)
            self._when_gathered(lambda: self.worker.reply(ident, sdp=self.local_sdp()))

        return Gst.Promise.new_with_change_func(made, None)

    def set_answer(self, ident: int, sdp: str) -> None:
        desc = self._description(sdp, GstWebRTC.WebRTCSDPType.ANSWER)
        promise = Gst.Promise.new_with_change_func(lambda *_: self.worker.reply(ident), None)
        self.webrtc.emit("set-remote-description", desc, promise)

    # --- subscribing --------------------------------------------------------------------

    def subscribe(self, ident: int, sdp: str) -> None:
        self.bin.sync_state_with_parent()
        desc = self._description(sdp, GstWebRTC.WebRTCSDPType.OFFER)

        def on_remote(_promise: Gst.Promise, _: Any) -> None:
            self.webrtc.emit("create-answer", None, self._then_local(ident, "answer"))

        self.webrtc.emit(
            "set-remote-description", desc, Gst.Promise.new_with_change_func(on_remote, None)
        )

    def _on_pad(self, _element: Gst.Element, pad: Gst.Pad) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        trans = pad.get_property("transceiver")
        mid = str(trans.get_property("mid")) if trans is not None else pad.get_name()
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = str(caps.get_structure(0).get_value("media") or "video")
        # No queues: the tee's branches end in non-blocking sinks, and a leaky queue in
        # front of the depayloader dropped the first packets of a keyframe's burst (the
        # depayloader then waited for the next keyframe: joins of 6-10 s, measured).
        # request-keyframe: after a lost packet the depayloader asks for a keyframe, as a
        # browser's decoder does.
        if kind == "video":
            desc = (
                "identity name=count silent=true ! tee name=t "
                "t. ! fakesink sync=false async=false "
                "t. ! rtpvp8depay wait-for-keyframe=true request-keyframe=true ! "
                "identity drop-buffer-flags=delta-unit silent=true ! "
                "fakesink name=keys sync=false async=false"
            )
        else:
            desc = "identity name=count silent=true ! fakesink sync=false async=false"
        chain = Gst.parse_bin_from_description(desc, True)
        self.bin.add(chain)
        chain.sync_state_with_parent()
        pad.link(chain.get_static_pad("sink"))
        stream = Stream(self.pc, mid, kind, chain.get_by_name("count"))
        self.streams[mid] = stream
        keys = chain.get_by_name("keys")
        if keys is not None:
            keys.get_static_pad("sink").add_probe(
                Gst.PadProbeType.BUFFER,
                lambda *_: (stream.on_keyframe(time.monotonic()), Gst.PadProbeReturn.OK)[1],
            )

    def _description(self, sdp: str, kind: Any) -> Any:
        ok, msg = GstSdp.SDPMessage.new_from_text(sdp)
        if ok != GstSdp.SDPResult.OK:
            raise ValueError("unreadable SDP")
        return GstWebRTC.WebRTCSessionDescription.new(kind, msg)

    def unhook(self) -> None:
        """Stop feeding and counting this peer (in the main loop)."""
        for sender in self.senders:
            for senders in self.worker.senders.values():
                if sender in senders:
                    senders.remove(sender)
        self.streams.clear()

    def close(self) -> None:
        """Stop and remove the peer's elements (in a thread of its own)."""
        self.bin.set_state(Gst.State.NULL)
        self.worker.pipeline.remove(self.bin)


class Worker:
    def __init__(self, frames_dir: Path) -> None:
        self.pipeline = Gst.Pipeline.new("gen")
        # Nobody reads the bus: drop its messages as they come. Left queued (hundreds of
        # webrtcbins post them), pushing one more took 98 % of the worker's time (perf).
        self.pipeline.get_bus().set_flushing(True)
        self.peers: dict[str, Peer] = {}
        rates = json.loads((frames_dir / "rates.json").read_text())
        self.loops = {
            layer: Loop(read_frames(frames_dir / f"{layer}.bin"), rates[layer]) for layer in LAYERS
        }
        self.senders: dict[str, list[Sender]] = {layer: [] for layer in LAYERS}
        self.started = time.monotonic()
        self.sent: dict[str, int] = dict.fromkeys(LAYERS, 0)
        self.pipeline.set_state(Gst.State.PLAYING)
        for layer in LAYERS:
            GLib.timeout_add(max(1, 500 // self.loops[layer].fps), self._feed, layer)
        GLib.timeout_add(int(POLL_S * 1000), self._poll)

    def _feed(self, layer: str) -> bool:
        """Push every frame due on this layer (catching up at most a second)."""
        now = time.monotonic()
        due = int((now - self.started) * self.loops[layer].fps)
        behind = due - self.sent[layer]
        if behind > self.loops[layer].fps:
            self.sent[layer] = due - 1
            behind = 1
        for _ in range(max(0, behind)):
            for sender in self.senders[layer]:
                sender.push(now)
            self.sent[layer] += 1
        return True

    def _poll(self) -> bool:
        now = time.monotonic()
        for peer in self.peers.values():
            for stream in peer.streams.values():
                stream.poll(now)
        return True

    def reply(self, ident: int, **fields: Any) -> None:
        emit({"id": ident, **fields})

    def handle(self, cmd: dict[str, Any]) -> bool:
        ident = cmd.get("id", 0)
        op = cmd.get("op")
        try:
            if op == "publish":
                peer = self.peers[cmd["pc"]] = Peer(self, cmd["pc"])
                peer.publish(ident)
            elif op == "subscribe":
                peer = self.peers[cmd["pc"]] = Peer(self, cmd["pc"])
                peer.subscribe(ident, cmd["sdp"])
            elif op == "answer":
                self.peers[cmd["pc"]].set_answer(ident, cmd["sdp"])
            elif op == "reset":
                peer = self.peers[cmd["pc"]]
                for mid in cmd.get("mids") or list(peer.streams):
                    if mid in peer.streams:
                        peer.streams[mid].reset()
                self.reply(ident)
            elif op == "close":
                peer = self.peers.pop(cmd["pc"], None)
                if peer is not None:
                    peer.unhook()
                    # Stopping a webrtcbin waits for its streaming threads: not in the main
                    # loop, which feeds every site (a close there stalled them all for 20 s).
                    threading.Thread(target=peer.close, daemon=True).start()
                self.reply(ident)
            elif op == "stats":
                self._poll()
                streams = {
                    f"{p.pc}/{s.mid}": s.report()
                    for p in self.peers.values()
                    for s in p.streams.values()
                }
                self.reply(ident, streams=streams)
            else:
                self.reply(ident, error=f"unknown op {op!r}")
        except Exception as exc:  # reported to the driver, which decides
            self.reply(ident, error=f"{type(exc).__name__}: {exc}")
        return False


def main() -> None:
    Gst.init(None)
    worker = Worker(Path(sys.argv[1]))
    loop = GLib.MainLoop()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip():
                GLib.idle_add(worker.handle, json.loads(line))
        GLib.idle_add(loop.quit)

    threading.Thread(target=read_stdin, daemon=True).start()
    emit({"ev": "ready", "pid": os.getpid()})
    loop.run()
    worker.pipeline.set_state(Gst.State.NULL)


if __name__ == "__main__":
    main()
