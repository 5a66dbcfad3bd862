"""The browsers' way to Janus: its WebSocket API, passed through the app (issue 11, item 8).

Janus 1.1.2 ignores the room's `bitrate_cap` when a publisher asks for a bitrate of its own:
`configure {bitrate: 50000000}` makes Janus send the publisher a REMB of 50 Mbit/s, and a
tampered page then sends what its camera and link allow (measured: docs/security.md). So the
HTTPS front sends `/janus` to the app, and this gate forwards every frame both ways as it is,
except:

* a VideoRoom request that names a `bitrate` (`configure`, `joinandconfigure`, `publish`)
  gets at most the room's cap (`DIEMCAU_JANUS_ROOM_BITRATE`); a bitrate that is not a whole
  number gets the cap;
* a frame larger than `MAX_FRAME`, or not a JSON object, closes the socket (1009, 1003);
* a revocation closes it (4401), as it closes the page's control socket: the gate joins the
  same groups (meetings/reach.py) for the sites the browser session joined, its account and
  the session itself. Janus then ends the session the socket carried, its subscriptions
  too (the VideoRoom cannot kick a subscriber), so a revoked page that ignores its closed
  control socket stops receiving the meeting.

Everything else is Janus's own business (tokens, sessions, the VideoRoom's checks). The
admin API is never reachable this way (it is off, and only the Janus API is proxied).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import websockets
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from diemcau.meetings.joinlinks import SESSION_KEY
from diemcau.meetings.reach import session_group, site_group, user_group

log = logging.getLogger(__name__)

PROTOCOL = "janus-protocol"
MAX_FRAME = 256 * 1024  # an offer with three simulcast layers and candidates is ~10 KiB
BITRATE_REQUESTS = frozenset({"configure", "joinandconfigure", "publish"})
CLOSE_TOO_BIG, CLOSE_NOT_JSON, CLOSE_NO_JANUS = 1009, 1003, 1011
CLOSE_REVOKED = 4401  # as live/revoke.py's


def groups_of(scope: dict[str, Any]) -> list[str]:
    """The revocation groups a browser's Janus socket joins: each site its session joined a
    meeting for, its account, the session."""
    groups: list[str] = []
    session = scope.get("session")
    if session is not None:
        joined = session.get(SESSION_KEY) or {}
        for meeting_id, entry in joined.items() if isinstance(joined, dict) else ():
            if isinstance(entry, dict) and str(meeting_id).isdigit() and "site" in entry:
                groups.append(site_group(int(meeting_id), int(entry["site"])))
        if session.session_key:
            groups.append(session_group(session.session_key))
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        groups.append(user_group(user.pk))
    return groups


class NotAnObject(ValueError):
    """A frame the Janus API would not take: not a JSON object."""


def capped(text: str, cap: int) -> str:
    """The frame to forward: `text` itself, or with a request's `bitrate` brought down to
    `cap`. Raises NotAnObject for a frame that is not a JSON object."""
    try:
        message: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NotAnObject(str(exc)) from exc
    if not isinstance(message, dict):
        raise NotAnObject(f"a Janus API message is a JSON object, not {type(message).__name__}")
    body = message.get("body")
    if (
        message.get("janus") != "message"
        or not isinstance(body, dict)
        or body.get("request") not in BITRATE_REQUESTS
        or "bitrate" not in body
    ):
        return text
    asked = body["bitrate"]
    if isinstance(asked, int) and not isinstance(asked, bool) and 0 <= asked <= cap:
        return text
    log.info("publisher asked for bitrate %r: capped at %d", asked, cap)
    body["bitrate"] = cap
    return json.dumps(message)


class JanusGate(AsyncWebsocketConsumer):
    """One browser WebSocket to Janus, with its own upstream connection."""

    upstream: Any = None
    pump: asyncio.Task[None] | None = None
    closing = False  # this side closes the browser's socket: once
    groups: tuple[str, ...] = ()

    async def connect(self) -> None:
        if PROTOCOL not in self.scope.get("subprotocols", []):
            await self.close(code=CLOSE_NOT_JSON)
            return
        try:
            self.upstream = await websockets.connect(
                settings.JANUS.url,
                subprotocols=[websockets.Subprotocol(PROTOCOL)],
                max_size=MAX_FRAME * 4,
                open_timeout=5,
                ping_interval=None,  # Janus's own keepalives run end to end
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            log.warning("Janus unreachable for a page: %s", exc)
            await self.close(code=CLOSE_NO_JANUS)
            return
        await self.accept(subprotocol=PROTOCOL)
        self.groups = tuple(await database_sync_to_async(groups_of)(self.scope))
        for group in self.groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.pump = asyncio.ensure_future(self._from_janus())

    async def live_close(self, event: dict[str, Any]) -> None:
        """A revocation (live/revoke.py): the Janus session this socket carries ends."""
        await self._refuse(CLOSE_REVOKED)

    async def _from_janus(self) -> None:
        try:
            async for frame in self.upstream:
                await self.send(text_data=frame if isinstance(frame, str) else frame.decode())
        except websockets.ConnectionClosed:
            pass
        if not self.closing:
            # Janus went away: so does the browser's socket (janus.js says so and retries).
            self.closing = True
            await self.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.upstream is None:
            return
        text = (
            text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        )
        if len(text) > MAX_FRAME:
            await self._refuse(CLOSE_TOO_BIG)
            return
        try:
            forwarded = capped(text, settings.JANUS_ROOM_BITRATE)
        except NotAnObject:
            await self._refuse(CLOSE_NOT_JSON)
            return
        try:
            await self.upstream.send(forwarded)
        except websockets.ConnectionClosed:
            await self._refuse(1000)

    async def _refuse(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        await self._drop_upstream()
        await self.close(code=code)

    async def _drop_upstream(self) -> None:
        upstream, self.upstream = self.upstream, None
        if self.pump is not None and self.pump is not asyncio.current_task():
            self.pump.cancel()
        if upstream is not None:
            await upstream.close()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        await self._drop_upstream()
