"""One long-lived Janus admin session per process, on a thread of its own.

Every request the web app makes of Janus goes over this one WebSocket and session (kept
alive by keepalives, re-created by the client after a drop or a Janus restart), instead
of a session opened and destroyed per request. It runs on its own event loop thread, so
that neither Django's single sync thread nor the ASGI loop waits for Janus: sync code
blocks only its own thread (`run`), async code awaits without blocking anything (`arun`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from django.conf import settings

from diemcau.media.client import JanusClient
from diemcau.media.errors import JanusConnectionError, JanusError, JanusTimeout, MediaError
from diemcau.media.tokens import sign_token
from diemcau.media.videoroom import VideoRoomAdmin

log = logging.getLogger(__name__)

# A request and the wait for a lost session to come back, each at most this long.
REQUEST_SECONDS = 10.0
RECONNECT_SECONDS = 5.0


class MediaUnavailable(Exception):
    """Janus could not be reached or refused our request; the message says which."""


type Call[T] = Callable[[VideoRoomAdmin], Awaitable[T]]


@dataclass(frozen=True)
class _Target:
    url: str
    admin_key: str
    token_secret: str


class JanusLink:
    def __init__(self, target: _Target) -> None:
        self.target = target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="janus-link", daemon=True
        )
        self._thread.start()
        self._client: JanusClient | None = None
        self._admin: VideoRoomAdmin | None = None
        self._connecting: asyncio.Lock | None = None
        self.sessions_opened = 0  # for tests and the doctor: one per (re)connect, not per call

    def run[T](self, call: Call[T], timeout: float = REQUEST_SECONDS + RECONNECT_SECONDS) -> T:
        """From sync code: run `call(admin)` on the link's loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(self._do(call), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise MediaUnavailable(f"{self.target.url}: no answer within {timeout} s") from None

    async def arun[T](self, call: Call[T]) -> T:
        """From async code on any loop: the same, without blocking a thread."""
        future = asyncio.run_coroutine_threadsafe(self._do(call), self._loop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        async def shut() -> None:
            if self._client is not None:
                with contextlib.suppress(MediaError, OSError):
                    await self._client.close()
            self._client = self._admin = None

        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # --- on the link's loop -------------------------------------------------------------

    async def _do[T](self, call: Call[T]) -> T:
        try:
            admin = await self._ready()
            try:
                return await call(admin)
            except JanusConnectionError:
                # The session went away under us (Janus restarted): once more on a new one.
                admin = await self._ready()
                return await call(admin)
        except JanusError as exc:
            raise MediaUnavailable(f"Janus error {exc.code}: {exc.reason}") from exc
        except (MediaError, OSError) as exc:
            raise MediaUnavailable(f"{self.target.url}: {exc or type(exc).__name__}") from exc

    async def _ready(self) -> VideoRoomAdmin:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            client = self._client
            if client is not None and client.connected and self._admin is not None:
                return self._admin
            if client is not None:
                # Reconnecting by itself (a dropped socket): give it a moment.
                with contextlib.suppress(JanusTimeout):
                    await client.wait_reconnected(client.generation, timeout=RECONNECT_SECONDS)
                if client.connected and self._admin is not None:
                    self.sessions_opened += 1
                    return self._admin
                with contextlib.suppress(MediaError, OSError):
                    await client.close()
            client = JanusClient(
                self.target.url, token=self._server_token, request_timeout=REQUEST_SECONDS
            )
            self._client, self._admin = None, None
            await client.connect()
            self.sessions_opened += 1
            self._client = client
            self._admin = VideoRoomAdmin(client, self.target.admin_key)
            log.info("Janus admin session %s open at %s", client.session_id, self.target.url)
            return self._admin

    def _server_token(self) -> str:
        return sign_token(self.target.token_secret, ttl_seconds=300)


_lock = threading.Lock()
_link: JanusLink | None = None


def link() -> JanusLink:
    """This process's link to the Janus that settings name (a new one if they changed)."""
    global _link
    janus = settings.JANUS
    target = _Target(janus.url, janus.admin_key, janus.token_auth_secret)
    with _lock:
        if _link is None or _link.target != target:
            old, _link = _link, JanusLink(target)
            if old is not None:
                old.close()
        return _link


def reset() -> None:
    """Close the link (tests that stop their Janus; the next call opens a new one)."""
    global _link
    with _lock:
        old, _link = _link, None
    if old is not None:
        old.close()
