"""The web app's side of Janus: rooms for meetings and media access for participants.

Services hand plain values to `diemcau.media` (which knows nothing of Django). Each call opens
a short-lived Janus session: starting or ending a meeting is rare, and a fresh session
cannot be left in a bad state by an earlier Janus restart.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings

from diemcau.media.client import JanusClient
from diemcau.media.errors import JanusError, MediaError, NoSuchRoom
from diemcau.media.tokens import sign_token
from diemcau.media.videoroom import RoomSpec, VideoRoomAdmin

# Room ids fit in JavaScript's safe integers (janus.js passes them as numbers).
_ROOM_ID_MAX = 2**53 - 1


class MediaUnavailable(Exception):
    """Janus could not be reached or refused our request; the message says which."""


@dataclass(frozen=True)
class Room:
    room_id: int
    secret: str


@dataclass(frozen=True)
class MediaAccess:
    """What one participant's browser needs to join the room: nothing else is handed out."""

    janus_url: str
    core_token: str  # signed, expiring: lets the browser open a Janus session at all
    room_id: int
    room_token: str  # in the room's `allowed` list: lets it join this room only


def _server_token() -> str:
    return sign_token(settings.JANUS.token_auth_secret, ttl_seconds=300)


async def _with_admin[T](call: Callable[[VideoRoomAdmin], Awaitable[T]]) -> T:
    client = JanusClient(settings.JANUS.url, token=_server_token, reconnect=False)
    try:
        await client.connect()
        admin = VideoRoomAdmin(client, settings.JANUS.admin_key)
        return await call(admin)
    except JanusError as exc:
        raise MediaUnavailable(f"Janus error {exc.code}: {exc.reason}") from exc
    except (MediaError, OSError) as exc:
        raise MediaUnavailable(f"{settings.JANUS.url}: {exc or type(exc).__name__}") from exc
    finally:
        await client.close()


def create_room(*, description: str, publishers: int) -> Room:
    room = Room(room_id=secrets.randbelow(_ROOM_ID_MAX - 1) + 1, secret=secrets.token_urlsafe(24))
    recreate_room(room, description=description, publishers=publishers)
    return room


def recreate_room(room: Room, *, description: str, publishers: int) -> None:
    """Create the room with a known id and secret (a new meeting, or after Janus restarted)."""
    spec = RoomSpec(
        room_id=room.room_id,
        description=description,
        secret=room.secret,
        publishers=publishers,
        bitrate=settings.JANUS_ROOM_BITRATE,
        # A token nobody holds switches the room's ACL on from the first moment; each
        # participant's own token is added when it is issued.
        allowed=(secrets.token_urlsafe(24),),
    )
    async_to_sync(_with_admin)(lambda admin: admin.create_room(spec))


def destroy_room(room_id: int, secret: str, *, missing_ok: bool = False) -> None:
    async def destroy(admin: VideoRoomAdmin) -> None:
        try:
            await admin.destroy_room(room_id, secret)
        except NoSuchRoom:
            if not missing_ok:
                raise

    async_to_sync(_with_admin)(destroy)


def grant_access(room_id: int, secret: str) -> MediaAccess:
    """Issue one participant's tokens: a core token that expires, a room token in `allowed`."""
    room_token = secrets.token_urlsafe(24)

    async def add(admin: VideoRoomAdmin) -> None:
        await admin.allowed(room_id, secret, "add", [room_token])

    async_to_sync(_with_admin)(add)
    return MediaAccess(
        janus_url=settings.JANUS.public_url,
        core_token=sign_token(
            settings.JANUS.token_auth_secret, ttl_seconds=settings.JANUS_TOKEN_TTL_SECONDS
        ),
        room_id=room_id,
        room_token=room_token,
    )


def room_exists(room_id: int) -> bool:
    return async_to_sync(_with_admin)(lambda admin: admin.exists(room_id))
