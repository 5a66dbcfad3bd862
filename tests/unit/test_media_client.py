"""JanusClient's transaction and reconnect logic against a scripted fake Janus.

The real Janus is exercised in tests/integration; this fake only replays the message
shapes of the Janus API (docs/janus.md) to pin down the cases that are hard to provoke.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

from diemcau.media.client import SUBPROTOCOL, JanusClient
from diemcau.media.errors import JanusConnectionError, JanusTimeout, NoSuchRoom

PLUGIN = "janus.plugin.videoroom"


class FakeJanus:
    """Answers create/attach/keepalive; plugin messages by their body's ``request``."""

    def __init__(self) -> None:
        self.ids = itertools.count(1000)
        self.connections: list[ServerConnection] = []
        self.requests: list[dict[str, Any]] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        async for raw in ws:
            msg = json.loads(raw)
            self.requests.append(msg)
            tx = msg["transaction"]
            kind = msg["janus"]
            if kind in ("create", "attach"):
                await ws.send(
                    json.dumps(
                        {"janus": "success", "transaction": tx, "data": {"id": next(self.ids)}}
                    )
                )
            elif kind in ("keepalive", "detach", "destroy"):
                await ws.send(json.dumps({"janus": "ack", "transaction": tx}))
            elif kind == "message":
                await self.plugin(ws, msg)

    async def plugin(self, ws: ServerConnection, msg: dict[str, Any]) -> None:
        tx, request = msg["transaction"], msg["body"]["request"]
        sender = msg["handle_id"]

        def plugindata(data: dict[str, Any]) -> dict[str, Any]:
            return {"plugin": PLUGIN, "data": data}

        if request == "exists":  # sync: one success
            await ws.send(
                json.dumps(
                    {
                        "janus": "success",
                        "transaction": tx,
                        "sender": sender,
                        "plugindata": plugindata({"videoroom": "success", "exists": False}),
                    }
                )
            )
        elif request == "join":  # async: ack, then an event, then an unsolicited event
            await ws.send(json.dumps({"janus": "ack", "transaction": tx}))
            await ws.send(
                json.dumps(
                    {
                        "janus": "event",
                        "transaction": tx,
                        "sender": sender,
                        "plugindata": plugindata({"videoroom": "joined", "id": 7}),
                    }
                )
            )
            await ws.send(json.dumps({"janus": "webrtcup", "sender": sender}))
        elif request == "destroy":  # async-style error in an event
            await ws.send(
                json.dumps(
                    {
                        "janus": "success",
                        "transaction": tx,
                        "sender": sender,
                        "plugindata": plugindata(
                            {"videoroom": "event", "error_code": 426, "error": "No such room"}
                        ),
                    }
                )
            )
        # "silent": never answered


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[tuple[FakeJanus, str]]:
    janus = FakeJanus()
    server: Server = await serve(
        janus.handler, "127.0.0.1", 0, subprotocols=[Subprotocol(SUBPROTOCOL)]
    )
    port = next(iter(server.sockets)).getsockname()[1]
    yield janus, f"ws://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


async def test_sync_reply_is_returned(fake: tuple[FakeJanus, str]) -> None:
    async with JanusClient(fake[1], token="t") as client:
        handle = await client.attach(PLUGIN)
        reply = await handle.message({"request": "exists", "room": 1})
        assert reply.data == {"videoroom": "success", "exists": False}
    assert all(r["token"] == "t" for r in fake[0].requests)


async def test_async_request_waits_past_ack_for_its_event(fake: tuple[FakeJanus, str]) -> None:
    async with JanusClient(fake[1]) as client:
        handle = await client.attach(PLUGIN)
        reply = await handle.message({"request": "join", "room": 1, "ptype": "publisher"})
        assert reply.data == {"videoroom": "joined", "id": 7}
        event = await handle.next_event("webrtcup", timeout=2)
        assert event.handle_id == handle.handle_id


async def test_plugin_error_is_raised_typed(fake: tuple[FakeJanus, str]) -> None:
    async with JanusClient(fake[1]) as client:
        handle = await client.attach(PLUGIN)
        with pytest.raises(NoSuchRoom):
            await handle.message({"request": "destroy", "room": 1})


async def test_unanswered_request_times_out(fake: tuple[FakeJanus, str]) -> None:
    async with JanusClient(fake[1]) as client:
        handle = await client.attach(PLUGIN)
        with pytest.raises(JanusTimeout, match="message"):
            await handle.message({"request": "silent"}, timeout=0.2)


async def test_drop_fails_pending_then_reconnects_with_new_session(
    fake: tuple[FakeJanus, str],
) -> None:
    janus, url = fake
    client = JanusClient(url, backoff_initial=0.01)
    await client.connect()
    handle = await client.attach(PLUGIN)
    first, generation = client.session_id, client.generation
    told = asyncio.Event()
    client.add_reconnect_listener(lambda c: told.set())

    pending = asyncio.create_task(handle.message({"request": "silent"}, timeout=30))
    await asyncio.sleep(0.05)  # let the request be sent; the fake gives no sign of it
    await janus.connections[0].close()
    with pytest.raises(JanusConnectionError):
        await pending

    await client.wait_reconnected(generation, timeout=5)
    await asyncio.wait_for(told.wait(), 5)
    assert client.session_id != first
    with pytest.raises(JanusConnectionError, match="attach again"):
        await handle.message({"request": "exists", "room": 1})
    await client.close()


async def test_connect_to_nothing_is_a_connection_error() -> None:
    with pytest.raises(JanusConnectionError):
        await JanusClient("ws://127.0.0.1:9", reconnect=False).connect()


async def test_keepalive_is_sent_on_the_session(fake: tuple[FakeJanus, str]) -> None:
    janus, url = fake
    async with JanusClient(url, keepalive_interval=0.05) as client:
        async with asyncio.timeout(2):
            while not any(r["janus"] == "keepalive" for r in janus.requests):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        keepalive = next(r for r in janus.requests if r["janus"] == "keepalive")
        assert keepalive["session_id"] == client.session_id
