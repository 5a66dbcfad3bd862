"""The Janus gate (sfu/gate.py) with the real ASGI app in uvicorn and a real Janus: a page
that asks Janus for 50 Mbit/s through it gets the room's cap (straight to Janus it gets what
it asks: test_janus_videoroom.py's strict xfail); frames that are not JSON objects or are
too big close the socket; a foreign origin is refused. Docs: docs/security.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
import websockets
from django.conf import settings as django_settings

from diemcau.asgi import application
from diemcau.media.client import JanusClient
from diemcau.media.supervisor import JanusSupervisor
from diemcau.media.tokens import sign_token
from diemcau.media.videoroom import RoomSpec, VideoRoomAdmin
from diemcau.sfu.gate import CLOSE_NOT_JSON, CLOSE_TOO_BIG, MAX_FRAME
from tests.support.peers import Publisher, publish

pytestmark = [
    pytest.mark.janus,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
]

CAP = 512_000
GREEDY = 50_000_000


@pytest.fixture
def gate_url(settings: Any, janus: JanusSupervisor) -> Iterator[str]:
    """The app in uvicorn on a free loopback port, its gate pointed at the test Janus."""
    settings.JANUS = dataclasses.replace(settings.JANUS, url=janus.config.ws_url)
    settings.JANUS_ROOM_BITRATE = CAP
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"ws://127.0.0.1:{port}/janus"
    server.should_exit = True
    thread.join(10)


@pytest_asyncio.fixture(loop_scope="session")
async def room(admin: VideoRoomAdmin) -> AsyncIterator[RoomSpec]:
    spec = RoomSpec(
        room_id=secrets.randbelow(2**40) + 1,
        description="Họp giao ban",
        secret=secrets.token_urlsafe(24),
        publishers=4,
        bitrate=CAP,
        allowed=(secrets.token_urlsafe(16),),
    )
    await admin.create_room(spec)
    yield spec
    await admin.destroy_room(spec.room_id, spec.secret)


def _client(url: str, janus: JanusSupervisor) -> JanusClient:
    return JanusClient(
        url,
        token=lambda: sign_token(janus.config.token_auth_secret),
        origin=django_settings.FRONT.origin(),
        reconnect=False,
    )


async def _highest_remb(publisher: Publisher, seconds: float = 3.0) -> int:
    """Ask for GREEDY by configure, then the highest REMB Janus sends over `seconds`."""
    seen = len(publisher.rembs)
    reply = await publisher.handle.message({"request": "configure", "bitrate": GREEDY})
    assert reply.data.get("configured") == "ok", reply.data
    await publisher.wait_for_remb(after=seen)
    await asyncio.sleep(seconds)
    return max(publisher.rembs[seen:])


async def test_a_publisher_asking_janus_for_50_mbits_through_the_gate_gets_the_cap(
    gate_url: str, janus: JanusSupervisor, room: RoomSpec
) -> None:
    async with _client(gate_url, janus) as client:
        publisher = await publish(client, room.room_id, room.allowed[0])
        try:
            assert await _highest_remb(publisher) <= CAP
        finally:
            await publisher.close()


async def test_joinandconfigure_through_the_gate_is_capped_too(
    gate_url: str, janus: JanusSupervisor, room: RoomSpec
) -> None:
    async with _client(gate_url, janus) as client:
        publisher = await publish(
            client, room.room_id, room.allowed[0], join_fields={"bitrate": GREEDY}
        )
        try:
            await publisher.wait_for_remb(after=0)
            await asyncio.sleep(2.0)
            assert max(publisher.rembs) <= CAP
        finally:
            await publisher.close()


async def _closed_with(gate_url: str, frame: str) -> int | None:
    async with websockets.connect(
        gate_url,
        origin=websockets.Origin(django_settings.FRONT.origin()),
        subprotocols=[websockets.Subprotocol("janus-protocol")],
        max_size=None,
    ) as ws:
        await ws.send(frame)
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


async def test_a_frame_that_is_not_a_json_object_closes_the_socket(gate_url: str) -> None:
    assert await _closed_with(gate_url, "[1, 2, 3]") == CLOSE_NOT_JSON
    assert await _closed_with(gate_url, "{not json") == CLOSE_NOT_JSON


async def test_a_frame_over_the_limit_closes_the_socket(gate_url: str) -> None:
    huge = json.dumps({"janus": "info", "transaction": "x" * MAX_FRAME})
    assert await _closed_with(gate_url, huge) == CLOSE_TOO_BIG


async def test_the_gate_answers_janus_info_and_refuses_a_foreign_origin(gate_url: str) -> None:
    async with websockets.connect(
        gate_url,
        origin=websockets.Origin(django_settings.FRONT.origin()),
        subprotocols=[websockets.Subprotocol("janus-protocol")],
    ) as ws:
        await ws.send(json.dumps({"janus": "info", "transaction": "t1"}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply["janus"] == "server_info"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            gate_url,
            origin=websockets.Origin("https://evil.example"),
            subprotocols=[websockets.Subprotocol("janus-protocol")],
        ):
            pass
