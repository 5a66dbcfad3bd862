"""Synthetic participants that go through the real product, as a room PC's page does.

A `Participant` is one page: it opens its control WebSocket (with the session cookie a
join link or a chair login gave it), asks for `media.access`, publishes under the feed id
the server assigned, reports `media.published`, and subscribes to what the media policy
says — the same rule as `src/diemcau/live/static/live/policy.js`, ported below. Janus
tells it who is publishing (`publishers` / `unpublished` / `leaving` events on its
publisher handle), as janus.js tells the page.

Its media go through an engine: `AiortcEngine` below (aiortc in this process, the
default) or bench/native.py's GStreamer workers (`--generator gst`).

Differences from the browser, on purpose and measured against: one PeerConnection per
subscribed feed (the page keeps one multistream subscriber and renegotiates with
`update`), so a switch here includes ICE and DTLS for the new connection; two video
streams instead of simulcast layers (see bench/media.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from websockets.asyncio.client import ClientConnection, connect

from bench.media import Encoded, LoopTrack, Probe, install
from diemcau.media.client import JanusClient, JanusEvent, JanusHandle
from diemcau.media.errors import JanusConnectionError, JanusError, JanusTimeout, NoSuchRoom
from diemcau.media.videoroom import PLUGIN

log = logging.getLogger("bench")

# A publisher's streams, in the order (mindex) both engines add them; each engine names
# their mids its own way (aiortc "0", "1", "2"; webrtcbin "audio0", "video1", "video2").
AUDIO, LOW, HIGH = "audio", "low", "high"
LABELS = (AUDIO, LOW, HIGH)
TIMEOUT = 20.0


def peer_connection() -> RTCPeerConnection:
    # No STUN (only this machine's addresses). max-bundle: with bundle negotiated later,
    # aiortc 1.16 never starts a third sender of a connection (seen here).
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


# (our mid, "audio" | "video", publisher layer label) for each stream of a subscription.
Streams = list[tuple[str, str, str]]


class AiortcEngine:
    """Media in this process, through aiortc (Python per packet: the first generator).

    The native engine (bench/native.py) has the same methods; sites.py calls only these."""

    name = "aiortc"

    def __init__(self, media: dict[str, Encoded]) -> None:
        self.media = media

    async def start(self) -> None:
        install()

    def pids(self) -> list[int]:
        return []

    async def offer(self, owner: str) -> tuple[Any, str]:
        pc = peer_connection()
        for kind, layer in (("audio", "audio"), ("video", "low"), ("video", "high")):
            pc.addTransceiver(LoopTrack(kind, self.media[layer]), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        return pc, str(pc.localDescription.sdp)

    async def accept(self, pc: Any, sdp: str) -> None:
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def answer(
        self, owner: str, offer: str, feed: int, streams: Streams, created: float
    ) -> tuple[Any, str, dict[str, Probe]]:
        pc = peer_connection()
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        probes = self._probes(pc, feed, streams, created)
        await pc.setLocalDescription(await pc.createAnswer())
        return pc, str(pc.localDescription.sdp), probes

    async def relabel(self, pc: Any, feed: int, streams: Streams, asked: float) -> dict[str, Probe]:
        return self._probes(pc, feed, streams, asked)

    def _probes(self, pc: Any, feed: int, streams: Streams, created: float) -> dict[str, Probe]:
        labels = {mid: label for mid, _kind, label in streams}
        out: dict[str, Probe] = {}
        transceiver: RTCRtpTransceiver
        for transceiver in pc.getTransceivers():
            label = labels.get(str(transceiver.mid), "?")
            probe = Probe(transceiver.kind, f"feed {feed} {label}", created=created)
            transceiver.receiver.bench_probe = probe  # type: ignore[attr-defined]
            out[label] = probe
        return out

    async def open_window(self) -> None:
        Probe.window_open = True

    async def close_window(self) -> None:
        Probe.window_open = False

    async def stop(self) -> None:
        pass


Engine = Any  # AiortcEngine or bench.native.NativeEngine: the same methods


def feed_of(state: dict[str, Any], site_id: int | None) -> int | None:
    """The site's camera feed id as the state names it (random, issued by the server;
    None until the server has applied the site's mute to it), as policy.js `feedOf`."""
    if site_id is None:
        return None
    feed = (state.get("feeds") or {}).get(str(site_id))
    return int(feed) if feed is not None else None


def wanted_ours(state: dict[str, Any], you: int, hq: bool) -> dict[int, set[str]]:
    """policy.js `wanted`, as publisher streams per feed (substream 0 = low, 2 = high)."""
    want: dict[int, dict[str, Any]] = {}
    opened = set(state.get("mics", {}).get("open", []))

    def add(site: int | None, substream: int = 0, video: bool = True) -> None:
        if site is None or site == you:
            return
        prev = want.get(site, {"audio": False, "video": False, "substream": 0})
        want[site] = {
            "audio": prev["audio"] or site in opened,
            "video": prev["video"] or video,
            "substream": max(prev["substream"], substream if video else 0),
        }

    floor = state.get("floor")
    if hq:
        for site in state.get("sites", []):
            add(site["id"], 0)
        if floor:
            add(floor["site"], 2)
    else:
        add(state.get("main_source"), 2)
        if floor:
            add(floor["site"], 2)
    for site in opened:
        add(site, video=False)
    out: dict[int, set[str]] = {}
    for site, w in want.items():
        mids = set()
        if w["audio"]:
            mids.add(AUDIO)
        if w["video"]:
            mids.add(HIGH if w["substream"] >= 2 else LOW)
        feed = feed_of(state, site)
        if feed is not None:
            out[feed] = mids
    return out


def wanted_naive(state: dict[str, Any], you: int, hq: bool) -> dict[int, set[str]]:
    """Janus's VideoRoom demo: everyone else, full quality, audio and video."""
    everyone = [s["id"] for s in state.get("sites", [])]
    main = state.get("meeting", {}).get("main_site")
    if main is not None:
        everyone.append(main)
    feeds = {feed_of(state, s) for s in everyone if s != you}
    return {feed: {AUDIO, HIGH} for feed in feeds if feed is not None}


Policy = Callable[[dict[str, Any], int, bool], dict[int, set[str]]]
POLICIES: dict[str, Policy] = {"ours": wanted_ours, "naive": wanted_naive}


@dataclass
class Subscription:
    feed: int
    mids: frozenset[str]
    created: float
    handle: JanusHandle | None = None
    pc: Any = None
    probes: dict[str, Probe] = field(default_factory=dict)  # label -> probe
    closed: float | None = None
    error: str | None = None
    started: float | None = None  # Janus answered `start`: the connection is negotiated
    sub_mids: dict[str, str] = field(default_factory=dict)  # publisher mid -> our mid
    streams: Streams = field(default_factory=list)
    shared: bool = False  # the connection was handed on to another feed by `switch`

    async def close(self) -> None:
        self.closed = time.monotonic()
        for probe in self.probes.values():
            probe.closed = self.closed
        if self.shared:
            return
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await self.pc.close()
        if self.handle is not None:
            with contextlib.suppress(Exception):
                await self.handle.detach()


@dataclass
class Received:
    kind: str
    seq: int
    at: float


class Participant:
    """One page: a branch site's room page, or the HQ console (chair)."""

    def __init__(
        self,
        *,
        name: str,
        host: str,
        meeting: int,
        role: str,
        site_id: int,
        engine: Engine,
        policy: Policy,
        publish: bool = True,
        switch: bool = False,
    ) -> None:
        self.name = name
        self.host = host
        self.meeting = meeting
        self.role = role
        self.site_id = site_id
        self.engine = engine
        self.policy = policy
        self.publish_media = publish
        # Move an existing subscription to the new feed with VideoRoom `switch` (no new
        # negotiation) instead of subscribing anew: the change proposed for media.js.
        self.switch = switch
        self.ws: ClientConnection | None = None
        self.state: dict[str, Any] = {}
        self.seq = 0
        self.received: list[Received] = []
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.refs = itertools.count(1)
        self.janus: JanusClient | None = None
        self.access: dict[str, Any] = {}
        self.publisher: JanusHandle | None = None
        self.pub_pc: Any = None
        # feed -> {label: mid} of the streams Janus says it publishes
        self.published: dict[int, dict[str, str]] = {}
        self.subs: dict[int, Subscription] = {}
        self.history: list[Subscription] = []
        self.changed = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        self.closing = False
        self.errors: list[str] = []
        # Milestones (time.monotonic()).
        self.t_start = 0.0
        self.t_control = 0.0
        self.t_published = 0.0

    # --- control WebSocket ------------------------------------------------------------

    async def connect_control(self, cookie: str) -> None:
        self.ws = await connect(
            f"ws://{self.host}/ws/meetings/{self.meeting}/{self.role}/",
            origin=f"http://{self.host}",  # type: ignore[arg-type]
            additional_headers=[("Cookie", f"sessionid={cookie}")],
            open_timeout=TIMEOUT,
            max_size=None,
        )
        snapshot = await self._read_until_snapshot()
        self._apply_snapshot(snapshot)
        self.t_control = time.monotonic()
        self.tasks.append(asyncio.create_task(self._read_control(), name=f"{self.name} control"))

    async def _read_until_snapshot(self) -> dict[str, Any]:
        assert self.ws is not None
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("type") == "snapshot":
                    return dict(message)

    def _apply_snapshot(self, message: dict[str, Any]) -> None:
        self.state = message["state"]
        self.seq = int(message["seq"])
        self.changed.set()

    async def _read_control(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                now = time.monotonic()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "event":
                    seq = int(message["seq"])
                    self.received.append(Received(message["kind"], seq, now))
                    if seq == self.seq + 1:
                        self.state.update(message["state"])
                        self.seq = seq
                        self.changed.set()
                    elif seq > self.seq + 1:
                        await self.ws.send(json.dumps({"type": "snapshot"}))
                elif kind == "snapshot":
                    self._apply_snapshot(message)
                ref = message.get("ref")
                if isinstance(ref, int) and ref in self.replies:
                    future = self.replies.pop(ref)
                    if not future.done():
                        future.set_result(message)

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        assert self.ws is not None
        ref = next(self.refs)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[ref] = future
        await self.ws.send(json.dumps({"type": kind, "ref": ref, **fields}))
        async with asyncio.timeout(TIMEOUT):
            reply = await future
        if reply.get("type") == "error":
            raise RuntimeError(f"{self.name}: {kind} refused: {reply.get('message')}")
        return reply

    # --- media ------------------------------------------------------------------------

    async def start_media(self) -> None:
        self.access = await self.request("media.access")
        self.janus = JanusClient(
            self.access["janus_url"], token=self.access["core_token"], reconnect=False
        )
        await self.janus.connect()
        if self.publish_media:
            await self._publish()
            await self.request_nowait("media.published")
        self.t_published = time.monotonic()
        self.tasks.append(asyncio.create_task(self._reconcile_loop(), name=f"{self.name} subs"))

    async def request_nowait(self, kind: str) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": kind, "ref": None}))

    async def _publish(self) -> None:
        assert self.janus is not None
        deadline = time.monotonic() + TIMEOUT
        while True:
            handle = await self.janus.attach(PLUGIN)
            try:
                joined = await handle.message(
                    {
                        "request": "join",
                        "ptype": "publisher",
                        "room": self.access["room"],
                        "id": self.access["feed"],
                        "display": self.name,
                        "token": self.access["room_token"],
                    }
                )
                break
            except NoSuchRoom:
                # `serve` creates the room right after start-up: wait for it.
                await handle.detach()
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
        self.publisher = handle
        self._note_publishers(joined.data.get("publishers", []))
        handle.add_listener(self._on_publisher_event)
        self.pub_pc, offer = await self.engine.offer(self.name)
        reply = await handle.message(
            {"request": "publish", "display": self.name}, jsep={"type": "offer", "sdp": offer}
        )
        if reply.jsep is None:
            raise JanusError(0, f"publish got no SDP answer: {reply.data}")
        await self.engine.accept(self.pub_pc, reply.jsep["sdp"])

    def _note_publishers(self, publishers: list[Any]) -> None:
        for p in publishers:
            if isinstance(p, dict) and "id" in p:
                self.published[int(p["id"])] = {
                    LABELS[int(s["mindex"])]: str(s["mid"])
                    for s in p.get("streams", [])
                    if isinstance(s, dict)
                    and not s.get("disabled")
                    and 0 <= int(s.get("mindex", -1)) < len(LABELS)
                }
        self.changed.set()

    def _on_publisher_event(self, event: JanusEvent) -> None:
        if event.kind != "event":
            return
        data = event.data
        if "publishers" in data:
            self._note_publishers(data["publishers"])
        for key in ("unpublished", "leaving"):
            gone = data.get(key)
            if isinstance(gone, int):
                self.published.pop(gone, None)
                self.changed.set()

    def target(self) -> dict[int, frozenset[str]]:
        out: dict[int, frozenset[str]] = {}
        for feed, labels in self.policy(self.state, self.site_id, self.role == "hq").items():
            have = self.published.get(feed)
            if have is None:
                continue
            chosen = frozenset(have[label] for label in labels if label in have)
            if chosen:
                out[feed] = chosen
        return out

    async def _reconcile_loop(self) -> None:
        while not self.closing:
            await self.changed.wait()
            self.changed.clear()
            target = self.target()
            jobs = []
            leaving = [f for f in self.subs if f not in target]
            for feed, mids in target.items():
                current = self.subs.get(feed)
                if current is None or current.mids != mids:
                    spare = next(
                        (f for f in leaving if self.subs[f].mids == mids and self.switch), None
                    )
                    if current is None and spare is not None:
                        leaving.remove(spare)
                        jobs.append(self._switch(self.subs[spare], feed))
                    else:
                        jobs.append(self._replace(feed, mids))
            for feed in leaving:
                jobs.append(self._drop(feed))
            if jobs:
                await asyncio.gather(*jobs)

    async def _drop(self, feed: int) -> None:
        sub = self.subs.pop(feed, None)
        if sub is not None:
            await sub.close()

    async def _replace(self, feed: int, mids: frozenset[str]) -> None:
        """Subscribe anew, then let the old subscription go."""
        sub = Subscription(feed, mids, time.monotonic())
        old = self.subs.get(feed)
        self.subs[feed] = sub
        self.history.append(sub)
        try:
            await self._subscribe(sub)
        except (JanusError, JanusTimeout, JanusConnectionError, OSError, RuntimeError) as exc:
            # RuntimeError: the native engine's worker refused (bench/native.py).
            sub.error = f"{type(exc).__name__}: {exc}"
            self.errors.append(f"subscribe {feed} {sorted(mids)}: {sub.error}")
            if self.subs.get(feed) is sub:
                del self.subs[feed]
            await sub.close()  # its connection and handle, half made
            # Try again on the next change (Janus may not list the feed yet).
            asyncio.get_running_loop().call_later(1.0, self.changed.set)
        if old is not None:
            await old.close()

    async def _switch(self, old: Subscription, feed: int) -> None:
        """Point an open subscription at another feed's same streams (VideoRoom `switch`)."""
        asked = time.monotonic()
        new = Subscription(feed, old.mids, asked, handle=old.handle, pc=old.pc)
        new.sub_mids = dict(old.sub_mids)
        self.subs.pop(old.feed, None)
        self.subs[feed] = new
        self.history.append(new)
        try:
            assert old.handle is not None
            await old.handle.message(
                {
                    "request": "switch",
                    "streams": [
                        {"feed": feed, "mid": m, "sub_mid": old.sub_mids[m]}
                        for m in sorted(old.mids)
                    ],
                }
            )
        except (JanusError, JanusTimeout, JanusConnectionError, KeyError) as exc:
            self.errors.append(f"switch to {feed}: {type(exc).__name__}: {exc}")
            self.subs.pop(feed, None)
            await old.close()
            asyncio.get_running_loop().call_later(1.0, self.changed.set)
            return
        new.started = time.monotonic()
        old.shared = True
        await old.close()
        new.streams = old.streams
        new.probes = await self.engine.relabel(old.pc, feed, old.streams, asked)

    async def _subscribe(self, sub: Subscription) -> None:
        assert self.janus is not None
        handle = await self.janus.attach(PLUGIN)
        sub.handle = handle
        attached = await handle.message(
            {
                "request": "join",
                "ptype": "subscriber",
                "room": self.access["room"],
                "token": self.access["room_token"],
                "streams": [{"feed": sub.feed, "mid": m} for m in sorted(sub.mids)],
            }
        )
        if attached.jsep is None:
            raise JanusError(0, f"subscriber join got no SDP offer: {attached.data}")
        streams = [s for s in attached.data.get("streams", []) if isinstance(s, dict)]
        sub.sub_mids = {str(s.get("feed_mid")): str(s.get("mid")) for s in streams}
        label_of = {mid: label for label, mid in self.published.get(sub.feed, {}).items()}
        sub.streams = [
            (str(s.get("mid")), str(s.get("type")), label_of.get(str(s.get("feed_mid")), "?"))
            for s in streams
        ]
        sub.pc, answer, sub.probes = await self.engine.answer(
            self.name, attached.jsep["sdp"], sub.feed, sub.streams, sub.created
        )
        await handle.message({"request": "start"}, jsep={"type": "answer", "sdp": answer})
        sub.started = time.monotonic()

    # --- the end ------------------------------------------------------------------------

    async def close(self) -> None:
        self.closing = True
        self.changed.set()
        for task in self.tasks:
            task.cancel()
        for sub in list(self.subs.values()):
            await sub.close()
        self.subs.clear()
        if self.pub_pc is not None:
            with contextlib.suppress(Exception):
                await self.pub_pc.close()
        if self.janus is not None:
            with contextlib.suppress(Exception):
                await self.janus.close()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()

    # --- what was measured --------------------------------------------------------------

    def first_keyframe_of(self, feed: int, after: float) -> float | None:
        """When the first keyframe of `feed`'s video arrived on a subscription made at or
        after `after` (or one already open then that had not yet had a keyframe)."""
        best: float | None = None
        for sub in self.history:
            if sub.feed != feed or (sub.closed is not None and sub.closed < after):
                continue
            for probe in sub.probes.values():
                if probe.kind == "video" and probe.first_keyframe is not None:
                    if probe.first_keyframe >= after or sub.created >= after:
                        if best is None or probe.first_keyframe < best:
                            best = probe.first_keyframe
                    elif sub.created < after:
                        # Already receiving that feed's video before the action.
                        return after
        return best

    def switch_steps(self, feed: int, after: float) -> dict[str, float] | None:
        """For the first subscription to `feed` made after `after`: when it was asked
        for, negotiated, and its first video packet arrived."""
        for sub in self.history:
            if sub.feed == feed and sub.created >= after:
                video = [p for p in sub.probes.values() if p.kind == "video"]
                out = {"asked": sub.created}
                if sub.started is not None:
                    out["negotiated"] = sub.started
                if video and video[0].first is not None:
                    out["first_packet"] = video[0].first
                return out
        return None

    def event_at(self, kind: str, seq: int) -> float | None:
        for r in self.received:
            if r.kind == kind and r.seq == seq:
                return r.at
        return None

    def probes(self) -> list[Probe]:
        return [p for sub in self.history for p in sub.probes.values()]
