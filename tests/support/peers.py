"""aiortc publishers and subscribers for a VideoRoom, for tests and benchmarks only.

Needs the ``dev`` extra (aiortc); the web app never imports it (it lives in tests/support/).
Peers get no STUN server, so all traffic stays between this machine's addresses and Janus.
"""

# Timeouts are part of this API on purpose: a test waits "this long at most" for media.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.rtp import RTCP_PSFB_APP, AnyRtcpPacket, RtcpPsfbPacket, unpack_remb_fci

from diemcau.media.client import JanusClient, JanusHandle
from diemcau.media.errors import JanusError
from diemcau.media.videoroom import PLUGIN


def peer_connection() -> RTCPeerConnection:
    # An empty list, not None: None makes aiortc ask Google's public STUN server.
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


@dataclass
class Publisher:
    handle: JanusHandle
    pc: RTCPeerConnection
    participant_id: int
    mids: dict[str, str]  # kind ("audio"/"video") -> mid Janus knows the stream by
    # Every REMB (bits per second) Janus sent about our video, oldest first: the bitrate
    # Janus tells this publisher to keep to.
    rembs: list[int] = field(default_factory=list)
    remb_received: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for_remb(self, after: int, timeout: float = 15.0) -> int:
        """The first REMB received after the first `after` ones."""
        async with asyncio.timeout(timeout), self.remb_received:
            await self.remb_received.wait_for(lambda: len(self.rembs) > after)
        return self.rembs[after]

    async def close(self) -> None:
        await self.pc.close()
        with contextlib.suppress(Exception):
            await self.handle.detach()


def _watch_rembs(sender: RTCRtpSender, publisher: Publisher) -> None:
    """Note the REMBs aiortc's sender receives (it only feeds them to its encoder, whose
    own limits would hide the value Janus sent)."""
    handle = sender._handle_rtcp_packet

    async def watched(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, _ssrcs = unpack_remb_fci(packet.fci)
                async with publisher.remb_received:
                    publisher.rembs.append(bitrate)
                    publisher.remb_received.notify_all()
        await handle(packet)

    # setattr: mypy refuses assigning to a method.
    setattr(sender, "_handle_rtcp_packet", watched)  # noqa: B010


@dataclass
class Subscriber:
    handle: JanusHandle
    pc: RTCPeerConnection
    frames: Counter[str] = field(default_factory=Counter)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def packets_received(self, kind: str) -> int:
        """RTP packets received so far on our inbound stream of ``kind``."""
        report = await self.pc.getStats()
        return sum(
            int(getattr(stats, "packetsReceived", 0))
            for stats in report.values()
            if getattr(stats, "type", "") == "inbound-rtp" and getattr(stats, "kind", "") == kind
        )

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Wait until ``predicate`` (usually about ``frames``) holds after a decoded frame."""
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(predicate)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()
        with contextlib.suppress(Exception):
            await self.handle.detach()


async def publish(
    client: JanusClient,
    room_id: int,
    room_token: str | None,
    display: str = "Điểm cầu 1",
    feed: int | None = None,
    *,
    join_fields: Mapping[str, Any] | None = None,
    publish_fields: Mapping[str, Any] | None = None,
) -> Publisher:
    """Join as a publisher (with the feed id the server assigned, if given) and publish a
    test pattern plus (silent) Opus audio.

    `join_fields` (e.g. `record`, `filename`, `bitrate`) make the join a
    `joinandconfigure`, the one join request that takes them; `publish_fields` go into
    the `publish` request.
    """
    handle = await client.attach(PLUGIN)
    join: dict[str, Any] = {
        "request": "joinandconfigure" if join_fields else "join",
        "ptype": "publisher",
        "room": room_id,
        "display": display,
        **(join_fields or {}),
    }
    if feed is not None:
        join["id"] = feed
    if room_token is not None:
        join["token"] = room_token
    try:
        joined = await handle.message(join)
    except BaseException:
        await handle.detach()
        raise
    pc = peer_connection()
    audio = pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    video = pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    publisher = Publisher(handle=handle, pc=pc, participant_id=int(joined.data["id"]), mids={})
    _watch_rembs(video.sender, publisher)
    await pc.setLocalDescription(await pc.createOffer())
    reply = await handle.message(
        {"request": "publish", "display": display, **(publish_fields or {})},
        jsep={"type": "offer", "sdp": pc.localDescription.sdp},
    )
    if reply.jsep is None:
        raise JanusError(0, f"publish got no SDP answer: {reply.data}")
    await pc.setRemoteDescription(RTCSessionDescription(reply.jsep["sdp"], reply.jsep["type"]))
    await handle.next_event("webrtcup", timeout=15)
    publisher.mids.update(audio=str(audio.mid), video=str(video.mid))
    return publisher


async def subscribe(client: JanusClient, room_id: int, feed: int, room_token: str) -> Subscriber:
    """Subscribe to every stream of ``feed`` and count decoded frames per kind."""
    handle = await client.attach(PLUGIN)
    attached = await handle.message(
        {
            "request": "join",
            "ptype": "subscriber",
            "room": room_id,
            "token": room_token,
            "streams": [{"feed": feed}],
        }
    )
    if attached.jsep is None:
        raise JanusError(0, f"subscriber join got no SDP offer: {attached.data}")
    pc = peer_connection()
    subscriber = Subscriber(handle=handle, pc=pc)

    async def consume(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                async with subscriber.changed:
                    subscriber.frames[track.kind] += 1
                    subscriber.changed.notify_all()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        subscriber.tasks.append(asyncio.create_task(consume(track)))

    await pc.setRemoteDescription(
        RTCSessionDescription(attached.jsep["sdp"], attached.jsep["type"])
    )
    await pc.setLocalDescription(await pc.createAnswer())
    await handle.message(
        {"request": "start"}, jsep={"type": "answer", "sdp": pc.localDescription.sdp}
    )
    await handle.next_event("webrtcup", timeout=15)
    return subscriber
