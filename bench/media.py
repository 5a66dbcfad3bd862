"""Pre-encoded media and RTP-level counting, so a synthetic site costs almost nothing.

A test pattern is encoded once (VP8 low layer ~150 kbps at 320x180/15 fps, high layer
~1.2 Mbps at 1280x720/30 fps, Opus 20 ms frames) and cached in `bench/.cache/`. Each
synthetic site sends those stored frames through aiortc as `av.Packet`s, which aiortc
packetises without encoding (`RTCRtpSender` calls `encoder.pack`). A keyframe request from
Janus (PLI/FIR) restarts the loop at its keyframe, as a browser's encoder would answer it.

Receiving decodes nothing: `install()` replaces aiortc's per-packet receive path for
probed receivers with a counter of packets, bytes, arrival gaps and VP8 keyframes, and
its decoder with one that drops frames.

aiortc cannot send simulcast, so a site publishes its two layers as two video streams
(mids) of the same publisher; a subscriber asking for substream 0 takes the low mid, for
substream 2 the high mid. Janus forwards one of them per subscription, as with simulcast.
"""

from __future__ import annotations

import asyncio
import fractions
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import av
from aiortc import rtcrtpreceiver, rtcrtpsender
from aiortc.mediastreams import MediaStreamTrack

CACHE = Path(__file__).resolve().parent / ".cache"
VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000


@dataclass(frozen=True)
class Layer:
    name: str
    width: int
    height: int
    fps: int
    kbps: int


LOW = Layer("low", 320, 180, 15, 150)
HIGH = Layer("high", 1280, 720, 30, 1200)
LOOP_SECONDS = 10


@dataclass(frozen=True)
class Encoded:
    """One layer's loop: frame payloads, the first one a keyframe."""

    frames: list[bytes]
    rate: int  # frames per second

    @property
    def kbps(self) -> float:
        return sum(len(f) for f in self.frames) * 8 / 1000 / (len(self.frames) / self.rate)


class _Pattern:
    """Moving bars over a fixed noise field: detail the encoder must spend bits on, made
    by rolling precomputed arrays (cheap to generate)."""

    def __init__(self, layer: Layer) -> None:
        import numpy as np

        h, w = layer.height, layer.width
        y, x = np.mgrid[0:h, 0:w]
        self.layer = layer
        base = np.zeros((h, w, 3), dtype=np.int16)
        base[..., 0] = x % 256
        base[..., 1] = (y * 2) % 256
        base[..., 2] = ((x // 40 + y // 40) % 2) * 160
        noise = np.random.default_rng(7).integers(-6, 6, (h, w, 3))
        self.base = np.clip(base + noise, 0, 255).astype(np.uint8)

    def frame(self, i: int) -> av.VideoFrame:
        import numpy as np

        shift = int(i * 4 * 30 / self.layer.fps)
        img = np.roll(self.base, (shift // 2, shift), axis=(0, 1))
        return av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")


def _encode_video(layer: Layer) -> Encoded:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = layer.width, layer.height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, layer.fps)
    codec.framerate = fractions.Fraction(layer.fps, 1)
    codec.bit_rate = layer.kbps * 1000
    codec.gop_size = 10_000  # one keyframe, at the start of the loop
    rate = str(layer.kbps * 1000)
    # minrate = maxrate = bitrate: constant bitrate, as a WebRTC encoder runs.
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": rate,
        "maxrate": rate,
        "bufsize": str(layer.kbps * 1000 // 2),
        "max-intra-rate": "300",
    }
    pattern = _Pattern(layer)
    frames: list[bytes] = []
    for i in range(layer.fps * LOOP_SECONDS):
        frame = pattern.frame(i)
        frame.pts = i
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    if not frames or not is_vp8_keyframe_frame(frames[0]):
        raise RuntimeError(f"{layer.name}: the encoded loop does not start with a keyframe")
    return Encoded(frames, layer.fps)


def _encode_audio() -> Encoded:
    import numpy as np

    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_CLOCK
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = 32_000
    samples = 960  # 20 ms
    out: list[bytes] = []
    for i in range(50 * 2):
        t = (np.arange(samples) + i * samples) / AUDIO_CLOCK
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone[None, :], 2, axis=0).T.reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = AUDIO_CLOCK
        frame.pts = i * samples
        out.extend(bytes(p) for p in codec.encode(frame))
    return Encoded(out, 50)


def is_vp8_keyframe_frame(frame: bytes) -> bool:
    """A VP8 frame (not an RTP payload): bit 0 of the first byte is 0 for a keyframe."""
    return bool(frame) and (frame[0] & 0x01) == 0


def load() -> dict[str, Encoded]:
    """The three loops, encoded on first use and cached (a few seconds, once)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"media-v1-{LOW.kbps}-{HIGH.kbps}-{HIGH.width}.pickle"
    if path.exists():
        data: dict[str, Encoded] = pickle.loads(path.read_bytes())  # noqa: S301 - our own file
        return data
    data = {"low": _encode_video(LOW), "high": _encode_video(HIGH), "audio": _encode_audio()}
    path.write_bytes(pickle.dumps(data))
    return data


class LoopTrack(MediaStreamTrack):
    """Sends stored frames at their rate; a keyframe request restarts at the keyframe."""

    def __init__(self, kind: str, encoded: Encoded, min_keyframe_interval: float = 0.1) -> None:
        super().__init__()
        self.kind = kind
        self.encoded = encoded
        self.index = 0
        self.count = 0
        self.keyframe_wanted = False
        self.keyframes_sent = 0
        self.last_keyframe = 0.0
        self.min_keyframe_interval = min_keyframe_interval
        self.start: float | None = None
        clock = VIDEO_CLOCK if kind == "video" else AUDIO_CLOCK
        self.step = clock // encoded.rate
        self.time_base = fractions.Fraction(1, clock)

    def request_keyframe(self) -> None:
        if self.kind == "video":
            self.keyframe_wanted = True

    async def recv(self) -> Any:  # an av.Packet: aiortc packs it without encoding
        now = time.monotonic()
        if self.start is None:
            self.start = now
        due = self.start + self.count / self.encoded.rate
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 1.0:
            # We fell behind (a stalled loop): do not burst to catch up.
            self.start = now - self.count / self.encoded.rate
        if self.keyframe_wanted and time.monotonic() - self.last_keyframe >= (
            self.min_keyframe_interval
        ):
            self.keyframe_wanted = False
            self.index = 0
        if self.index == 0 and self.kind == "video":
            self.last_keyframe = time.monotonic()
            self.keyframes_sent += 1
        packet = av.Packet(self.encoded.frames[self.index])
        packet.pts = self.count * self.step
        packet.time_base = self.time_base
        self.index = (self.index + 1) % len(self.encoded.frames)
        self.count += 1
        return packet


@dataclass
class Probe:
    """What one received stream delivered, counted at the RTP level."""

    kind: str
    label: str  # e.g. "feed 31 high"
    created: float = field(default_factory=time.monotonic)
    packets: int = 0
    size: int = 0  # bytes, RTP header included
    first: float | None = None
    last: float | None = None
    first_keyframe: float | None = None
    keyframes: int = 0
    max_gap: float = 0.0
    gaps_over_2s: int = 0
    closed: float | None = None
    window_bytes: int = 0  # bytes received while the measuring window is open

    # One switch for every probe of the process: cost is measured over the steady phase.
    window_open: ClassVar[bool] = False

    def on_packet(self, payload: bytes, is_rtx: bool) -> None:
        now = time.monotonic()
        self.packets += 1
        size = len(payload) + 12
        self.size += size
        if Probe.window_open:
            self.window_bytes += size
        if self.last is not None:
            gap = now - self.last
            if gap > self.max_gap:
                self.max_gap = gap
            if gap > 2.0:
                self.gaps_over_2s += 1
        else:
            self.first = now
        self.last = now
        if self.kind == "video" and not is_rtx and vp8_payload_is_keyframe_start(payload):
            self.keyframes += 1
            if self.first_keyframe is None:
                self.first_keyframe = now

    def tail_gap(self, now: float) -> float:
        """Silence since the last packet (a stream that stopped shows no gap otherwise)."""
        end = self.closed or now
        return end - (self.last or self.created)


def vp8_payload_is_keyframe_start(payload: bytes) -> bool:
    """Is this RTP payload (RFC 7741) the first packet of a VP8 keyframe?"""
    if len(payload) < 2:
        return False
    b0 = payload[0]
    start, pid = b0 & 0x10, b0 & 0x07
    if not start or pid != 0:
        return False
    i = 1
    if b0 & 0x80:  # X: extension byte follows
        x = payload[i]
        i += 1
        if x & 0x80:  # I: picture id (7 or 15 bits)
            i += 2 if payload[i] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            i += 1
        if x & 0x30:  # T or K
            i += 1
    return i < len(payload) and (payload[i] & 0x01) == 0


class _DropDecoder:
    def decode(self, encoded_frame: Any) -> list[Any]:
        return []


_installed = False


def install() -> None:
    """Patch aiortc in this process: count instead of decoding, answer keyframe requests."""
    global _installed
    if _installed:
        return
    _installed = True
    original_rtp = rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet

    async def handle_rtp(self: Any, packet: Any, arrival_time_ms: int) -> None:
        probe: Probe | None = getattr(self, "bench_probe", None)
        if probe is None:
            await original_rtp(self, packet, arrival_time_ms)
            return
        codecs = self._RTCRtpReceiver__codecs
        codec = codecs.get(packet.payload_type)
        probe.on_packet(packet.payload, codec is not None and codec.name == "rtx")

    rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet = handle_rtp  # type: ignore[method-assign]
    receiver_module: Any = rtcrtpreceiver
    receiver_module.get_decoder = lambda codec: _DropDecoder()

    original_keyframe = rtcrtpsender.RTCRtpSender._send_keyframe

    def send_keyframe(self: Any) -> None:
        original_keyframe(self)
        track = self.track
        if isinstance(track, LoopTrack):
            track.request_keyframe()

    rtcrtpsender.RTCRtpSender._send_keyframe = send_keyframe  # type: ignore[method-assign]
