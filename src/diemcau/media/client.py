"""An asyncio client for the Janus API over WebSocket.

Docs: docs/janus.md. One ``JanusClient`` holds one WebSocket and one Janus session; plugin
handles are ``JanusHandle`` objects. Requests are matched to replies by ``transaction``:

* sync requests (``create``, ``attach``, ``detach``, ``destroy``, and plugin messages such as
  VideoRoom ``create``) get one reply (``success`` or ``error``);
* async plugin messages (VideoRoom ``join``, ``publish``, ``start``...) first get an
  ``ack`` and later an ``event`` carrying the same transaction;
* ``keepalive`` and ``trickle`` are done when acked.

Everything else Janus sends (``event`` without a pending transaction, ``webrtcup``,
``media``, ``slowlink``, ``hangup``, ``detached``) is delivered to the handle it names in
``sender``, on its queue and to its listeners.

If the WebSocket drops (Janus restarted), pending transactions fail with
``JanusConnectionError``, the client reconnects with backoff, creates a fresh session and
tells its reconnect listeners; old handles are gone and callers must attach again.
"""

# Each Janus transaction has its own timeout (a reply that never comes must become
# JanusTimeout and free its slot), so async methods take one.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from .errors import JanusConnectionError, JanusError, JanusTimeout, error_from_reply

log = logging.getLogger(__name__)

SUBPROTOCOL = "janus-protocol"
# Janus drops a session after session_timeout (default 60 s) without traffic.
KEEPALIVE_SECONDS = 25.0
REQUEST_TIMEOUT_SECONDS = 10.0

JsonObject = dict[str, Any]
TokenSource = str | Callable[[], str] | None
ReconnectListener = Callable[["JanusClient"], Awaitable[None] | None]
EventListener = Callable[["JanusEvent"], Awaitable[None] | None]

# Janus messages delivered to handles when no transaction claims them.
HANDLE_EVENT_KINDS = frozenset({"event", "webrtcup", "media", "slowlink", "hangup", "detached"})


@dataclass(frozen=True)
class JanusEvent:
    """Something Janus told a handle without being asked in that moment.

    ``kind`` is Janus's word (``event``, ``webrtcup``, ``media``, ``slowlink``, ``hangup``,
    ``detached``); ``data`` is the plugin data for ``event`` and the whole message
    otherwise; ``jsep`` is an SDP offer/answer if one came along.
    """

    kind: str
    handle_id: int
    data: JsonObject
    jsep: JsonObject | None
    raw: JsonObject


@dataclass(frozen=True)
class PluginReply:
    """A plugin's answer to a message: its data (sync ``success`` or async ``event``)."""

    data: JsonObject
    jsep: JsonObject | None
    raw: JsonObject


@dataclass
class _Pending:
    future: asyncio.Future[JsonObject]
    # For async plugin messages the ack only says "received"; the answer is a later event.
    ack_is_final: bool


@dataclass
class JanusHandle:
    """A plugin handle in the client's current session."""

    client: JanusClient
    plugin: str
    handle_id: int
    session_id: int
    events: asyncio.Queue[JanusEvent] = field(default_factory=asyncio.Queue)
    listeners: list[EventListener] = field(default_factory=list)
    detached: bool = False

    async def message(
        self,
        body: Mapping[str, Any],
        jsep: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> PluginReply:
        """Send ``body`` to the plugin; return its data, or raise its error as a JanusError."""
        request: JsonObject = {"janus": "message", "body": dict(body)}
        if jsep is not None:
            request["jsep"] = dict(jsep)
        reply = await self.client._handle_request(
            self, request, ack_is_final=False, timeout=timeout
        )
        plugindata = reply.get("plugindata")
        data = plugindata.get("data") if isinstance(plugindata, Mapping) else None
        if not isinstance(data, dict):
            raise JanusError(0, f"reply to {body.get('request')!r} has no plugin data: {reply!r}")
        jsep_reply = reply.get("jsep")
        return PluginReply(
            data=data, jsep=jsep_reply if isinstance(jsep_reply, dict) else None, raw=reply
        )

    async def trickle_completed(self) -> None:
        """Tell Janus no more candidates will come (they were all in the SDP)."""
        await self.client._handle_request(
            self, {"janus": "trickle", "candidate": {"completed": True}}, ack_is_final=True
        )

    async def hangup(self) -> None:
        await self.client._handle_request(self, {"janus": "hangup"}, ack_is_final=True)

    async def detach(self) -> None:
        """Detach from the plugin; a handle already gone with its session is left alone."""
        if self.detached:
            return
        self.detached = True
        self.client._handles.pop(self.handle_id, None)
        if self.session_id == self.client.session_id and self.client.connected:
            await self.client._handle_request(self, {"janus": "detach"}, ack_is_final=True)

    def add_listener(self, listener: EventListener) -> None:
        self.listeners.append(listener)

    async def next_event(
        self,
        kind: str | None = None,
        predicate: Callable[[JanusEvent], bool] | None = None,
        *,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> JanusEvent:
        """The next queued event of ``kind`` matching ``predicate``; others are dropped."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = await self.events.get()
                    if (kind is None or event.kind == kind) and (
                        predicate is None or predicate(event)
                    ):
                        return event
        except TimeoutError:
            raise JanusTimeout(
                f"no {kind or 'event'} on handle {self.handle_id} within {timeout} s"
            ) from None

    async def _deliver(self, event: JanusEvent) -> None:
        self.events.put_nowait(event)
        for listener in list(self.listeners):
            try:
                await _call(listener, event)
            except Exception:
                # Listeners run on the reader task; one failing must not stop reading.
                log.exception(
                    "listener %r failed on %s for handle %s", listener, event.kind, self.handle_id
                )


class JanusClient:
    """One WebSocket and one Janus session, kept alive and re-created after a drop."""

    def __init__(
        self,
        url: str,
        *,
        token: TokenSource = None,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        keepalive_interval: float = KEEPALIVE_SECONDS,
        reconnect: bool = True,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        origin: str | None = None,
    ) -> None:
        """``token`` is a core token, or a callable returning a fresh one (tokens expire and
        a reconnect may come hours later); None when Janus runs without token_auth.
        ``origin``: the Origin header to send, as a page of ours would (the app's Janus
        gate, sfu/gate.py, checks it like every WebSocket of the app)."""
        self.url = url
        self.origin = origin
        self.request_timeout = request_timeout
        self.keepalive_interval = keepalive_interval
        self.reconnect_enabled = reconnect
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.session_id: int | None = None
        # Counts sessions created; a caller that saw generation n waits for n + 1.
        self.generation = 0
        self._token = token
        self._ws: ClientConnection | None = None
        self._pending: dict[str, _Pending] = {}
        self._handles: dict[int, JanusHandle] = {}
        self._reconnect_listeners: list[ReconnectListener] = []
        self._reader: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._closing = False
        self._session_changed = asyncio.Condition()
        self._counter = itertools.count(1)

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None and self.session_id is not None

    async def connect(self) -> None:
        """Open the WebSocket and create a session; raise if either fails (no retry here)."""
        self._closing = False
        await self._open()

    async def close(self) -> None:
        """Destroy the session and close the WebSocket; no reconnect afterwards."""
        self._closing = True
        for task in (self._keepalive, self._reconnector):
            if task is not None:
                task.cancel()
        ws = self._ws
        if ws is not None and self.session_id is not None:
            with contextlib.suppress(JanusError, JanusConnectionError, JanusTimeout):
                await self._request({"janus": "destroy", "session_id": self.session_id}, timeout=2)
        self._ws = None
        self.session_id = None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._fail_pending("client closed")

    async def __aenter__(self) -> JanusClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def add_reconnect_listener(self, listener: ReconnectListener) -> None:
        """Called (awaited if async) after each reconnect, once the new session exists."""
        self._reconnect_listeners.append(listener)

    async def wait_reconnected(self, after_generation: int, timeout: float = 30.0) -> None:
        """Wait until a session newer than ``after_generation`` exists."""
        try:
            async with asyncio.timeout(timeout), self._session_changed:
                await self._session_changed.wait_for(
                    lambda: self.generation > after_generation and self.connected
                )
        except TimeoutError:
            raise JanusTimeout(f"no new Janus session within {timeout} s") from None

    # --- requests -----------------------------------------------------------------------

    async def info(self) -> JsonObject:
        """The server's ``info`` reply (needs no session and no token)."""
        return await self._request({"janus": "info"})

    async def attach(self, plugin: str) -> JanusHandle:
        """Attach a handle to ``plugin`` (e.g. ``janus.plugin.videoroom``) in this session."""
        session_id = self._require_session()
        reply = await self._request({"janus": "attach", "plugin": plugin, "session_id": session_id})
        handle_id = _reply_id(reply)
        handle = JanusHandle(self, plugin, handle_id, session_id)
        self._handles[handle_id] = handle
        return handle

    async def _handle_request(
        self,
        handle: JanusHandle,
        request: JsonObject,
        *,
        ack_is_final: bool,
        timeout: float | None = None,
    ) -> JsonObject:
        if handle.session_id != self.session_id:
            raise JanusConnectionError(
                f"handle {handle.handle_id} belonged to session {handle.session_id}, "
                "which ended; attach again"
            )
        request["session_id"] = handle.session_id
        request["handle_id"] = handle.handle_id
        return await self._request(request, ack_is_final=ack_is_final, timeout=timeout)

    async def _request(
        self, request: JsonObject, *, ack_is_final: bool = True, timeout: float | None = None
    ) -> JsonObject:
        ws = self._ws
        if ws is None:
            raise JanusConnectionError(f"not connected to Janus at {self.url}")
        transaction = f"{next(self._counter)}-{secrets.token_hex(4)}"
        request["transaction"] = transaction
        token = self._current_token()
        if token is not None:
            request["token"] = token
        future: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = _Pending(future, ack_is_final)
        wait = self.request_timeout if timeout is None else timeout
        try:
            try:
                await ws.send(json.dumps(request))
            except ConnectionClosed as exc:
                raise JanusConnectionError(f"Janus at {self.url} closed the connection") from exc
            try:
                async with asyncio.timeout(wait):
                    reply = await future
            except TimeoutError:
                raise JanusTimeout(
                    f"no reply to {request['janus']!r} from Janus within {wait} s"
                ) from None
        finally:
            self._pending.pop(transaction, None)
        error = error_from_reply(reply)
        if error is not None:
            raise error
        return reply

    def _current_token(self) -> str | None:
        return self._token() if callable(self._token) else self._token

    def _require_session(self) -> int:
        if self.session_id is None or self._ws is None:
            raise JanusConnectionError(f"no Janus session open at {self.url}")
        return self.session_id

    # --- connection internals ------------------------------------------------------------

    async def _open(self) -> None:
        """Open the socket and create a session; on failure leave nothing half-open."""
        try:
            ws = await websockets.connect(
                self.url,
                origin=websockets.Origin(self.origin) if self.origin else None,
                subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
                open_timeout=self.request_timeout,
                # Our keepalive requests already prove liveness every 25 s.
                ping_interval=None,
                max_size=None,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise JanusConnectionError(f"cannot connect to Janus at {self.url}: {exc}") from exc
        self._ws = ws
        # The reader must run before "create" so that its reply is read.
        self._reader = asyncio.create_task(self._read(ws), name=f"janus-reader {self.url}")
        try:
            reply = await self._request({"janus": "create"})
            session_id = _reply_id(reply)
        except BaseException:
            # Clearing _ws first tells the reader this socket's end is no news.
            self._ws = None
            await ws.close()
            raise
        self.session_id = session_id
        self._keepalive = asyncio.create_task(self._keepalives(session_id))
        async with self._session_changed:
            self.generation += 1
            self._session_changed.notify_all()

    async def _read(self, ws: ClientConnection) -> None:
        """Read one socket until it ends; if it was the live one, start reconnecting."""
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    log.warning("Janus sent invalid JSON: %.200r", raw)
                    continue
                if isinstance(message, dict):
                    try:
                        await self._dispatch(message)
                    except Exception:
                        log.exception("cannot dispatch Janus message %.300r", message)
        except ConnectionClosed:
            pass
        if ws is not self._ws or self._closing:
            return
        self._lost()
        if self.reconnect_enabled:
            self._reconnector = asyncio.create_task(self._reconnect(), name="janus-reconnect")

    def _lost(self) -> None:
        log.warning("lost the connection to Janus at %s (session %s)", self.url, self.session_id)
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._ws = None
        self.session_id = None
        self._fail_pending("connection to Janus lost")
        for handle in self._handles.values():
            handle.detached = True
        self._handles.clear()

    async def _reconnect(self) -> None:
        delay = self.backoff_initial
        attempt = 0
        while not self._closing:
            attempt += 1
            await asyncio.sleep(delay)
            try:
                await self._open()
            except (JanusConnectionError, JanusTimeout, JanusError) as exc:
                log.info("reconnect attempt %d to %s failed: %s", attempt, self.url, exc)
                delay = min(delay * 2, self.backoff_max)
                continue
            log.warning("reconnected to Janus at %s, new session %s", self.url, self.session_id)
            for listener in list(self._reconnect_listeners):
                try:
                    await _call(listener, self)
                except Exception:
                    # One caller's failed re-attach must not stop the others being told.
                    log.exception("reconnect listener %r failed", listener)
            return

    def _fail_pending(self, why: str) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(JanusConnectionError(why))
        self._pending.clear()

    async def _keepalives(self, session_id: int) -> None:
        while True:
            await asyncio.sleep(self.keepalive_interval)
            try:
                await self._request({"janus": "keepalive", "session_id": session_id})
            except (JanusConnectionError, JanusTimeout) as exc:
                # The reader notices the drop and reconnects; nothing more to do here.
                log.info("keepalive for session %s failed: %s", session_id, exc)
                return
            except JanusError as exc:
                # Typically 458: Janus timed the session out (we were stalled too long).
                # Dropping the socket makes the reader start a reconnect with a new session.
                log.warning("Janus refused keepalive for session %s: %s", session_id, exc)
                ws = self._ws
                if ws is not None and self.session_id == session_id:
                    await ws.close()
                return

    async def _dispatch(self, message: JsonObject) -> None:
        kind = message.get("janus")
        transaction = message.get("transaction")
        pending = self._pending.get(transaction) if isinstance(transaction, str) else None
        if pending is not None and not pending.future.done():
            if kind == "ack" and not pending.ack_is_final:
                return
            pending.future.set_result(message)
            return
        if kind in HANDLE_EVENT_KINDS:
            sender = message.get("sender")
            handle = self._handles.get(sender) if isinstance(sender, int) else None
            if handle is None:
                log.debug("Janus %s for unknown handle %r", kind, sender)
                return
            plugindata = message.get("plugindata")
            data = plugindata.get("data") if isinstance(plugindata, Mapping) else None
            jsep = message.get("jsep")
            event = JanusEvent(
                kind=str(kind),
                handle_id=handle.handle_id,
                data=data if isinstance(data, dict) else message,
                jsep=jsep if isinstance(jsep, dict) else None,
                raw=message,
            )
            if kind == "detached":
                handle.detached = True
                self._handles.pop(handle.handle_id, None)
            await handle._deliver(event)
        elif kind == "timeout":
            log.warning("Janus timed out session %s", message.get("session_id"))
        elif kind != "ack":
            log.debug("unclaimed Janus message: %.300r", message)


def _reply_id(reply: Mapping[str, Any]) -> int:
    data = reply.get("data")
    value = data.get("id") if isinstance(data, Mapping) else None
    if not isinstance(value, int):
        raise JanusError(0, f"Janus reply has no numeric data.id: {dict(reply)!r}")
    return value


async def _call(callback: Callable[..., Awaitable[None] | None], *args: object) -> None:
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


async def probe_info(url: str, timeout: float = 2.0) -> JsonObject:
    """Ask Janus for ``info`` on a throwaway socket: proves it is up, needs no session."""
    try:
        async with asyncio.timeout(timeout):
            async with websockets.connect(
                url, subprotocols=[websockets.Subprotocol(SUBPROTOCOL)], ping_interval=None
            ) as ws:
                await ws.send(json.dumps({"janus": "info", "transaction": secrets.token_hex(6)}))
                reply = json.loads(await ws.recv())
    except TimeoutError:
        raise JanusTimeout(f"no info reply from Janus at {url} within {timeout} s") from None
    except (OSError, ConnectionClosed, websockets.InvalidHandshake, ValueError) as exc:
        raise JanusConnectionError(f"cannot ask Janus at {url} for info: {exc}") from exc
    if not isinstance(reply, dict) or reply.get("janus") != "server_info":
        raise JanusConnectionError(f"unexpected info reply from {url}: {reply!r:.200}")
    return reply
