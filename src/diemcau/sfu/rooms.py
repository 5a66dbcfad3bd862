"""Meetings' rooms in Janus and participants' access to them.

Callers hand plain values (room id, secret, feed ids); the requests go over this process's
one Janus session (link.py). Each function has a sync form for Django code and, where a
request path needs it, an async form (`a…`) that waits without holding a thread.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from diemcau.media.errors import MediaError, NoSuchRoom
from diemcau.media.tokens import sign_token
from diemcau.media.videoroom import RoomSpec, VideoRoomAdmin

from .link import MediaUnavailable, link

# Room ids fit in JavaScript's safe integers (janus.js passes them as numbers).
_ROOM_ID_MAX = 2**53 - 1


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
    link().run(lambda admin: admin.create_room(spec))


def destroy_room(room_id: int, secret: str, *, missing_ok: bool = False) -> None:
    async def destroy(admin: VideoRoomAdmin) -> None:
        try:
            await admin.destroy_room(room_id, secret)
        except NoSuchRoom:
            if not missing_ok:
                raise

    link().run(destroy)


def room_exists(room_id: int) -> bool:
    return link().run(lambda admin: admin.exists(room_id))


def grant_access(
    room_id: int, secret: str, kick_feeds: tuple[int, ...] = (), room_token: str | None = None
) -> MediaAccess:
    """Issue one participant's tokens: a core token that expires, a room token in `allowed`
    (`room_token`: the participant's own, so that it can be taken away; random if None).

    `kick_feeds` are the feed ids this participant will publish as: a page that reconnects
    finds its previous publisher still in the room until Janus notices it is gone, so it is
    kicked first to free the id.
    """
    room_token = room_token or secrets.token_urlsafe(24)
    link().run(_admit(room_id, secret, room_token, kick_feeds))
    return _access(room_id, room_token)


async def agrant_access(
    room_id: int, secret: str, kick_feeds: tuple[int, ...] = (), room_token: str | None = None
) -> MediaAccess:
    """`grant_access` for async code: no thread waits for Janus."""
    room_token = room_token or secrets.token_urlsafe(24)
    await link().arun(_admit(room_id, secret, room_token, kick_feeds))
    return _access(room_id, room_token)


def revoke_access(room_id: int, secret: str, tokens: list[str], feeds: tuple[int, ...]) -> None:
    """Take `tokens` out of the room's `allowed` list (no new join with them) and kick the
    publishers `feeds` (what they sent stops reaching anyone)."""

    async def run(admin: VideoRoomAdmin) -> None:
        if tokens:
            await admin.allowed(room_id, secret, "remove", tokens)
        if feeds:
            present = {p.participant_id for p in await admin.list_participants(room_id)}
            for feed in feeds:
                if feed in present:
                    with contextlib.suppress(MediaError):
                        await admin.kick(room_id, secret, feed)

    link().run(run)


def allowed_tokens(room_id: int, secret: str) -> list[str]:
    """The room's `allowed` list as Janus has it (for tests and the doctor)."""
    return link().run(lambda admin: admin.allowed(room_id, secret, "add", []))


def _admit(room_id: int, secret: str, room_token: str, kick_feeds: tuple[int, ...]) -> Any:
    async def add(admin: VideoRoomAdmin) -> None:
        await admin.allowed(room_id, secret, "add", [room_token])
        if kick_feeds:
            present = {p.participant_id for p in await admin.list_participants(room_id)}
            for feed in kick_feeds:
                if feed in present:
                    with contextlib.suppress(MediaError):
                        await admin.kick(room_id, secret, feed)

    return add


def _access(room_id: int, room_token: str) -> MediaAccess:
    return MediaAccess(
        janus_url=settings.JANUS.public_url,
        core_token=sign_token(
            settings.JANUS.token_auth_secret, ttl_seconds=settings.JANUS_TOKEN_TTL_SECONDS
        ),
        room_id=room_id,
        room_token=room_token,
    )


def enforce_audio(
    room_id: int, secret: str, open_feeds: set[int], allowed_feeds: set[int] | None = None
) -> int:
    """Mute at the SFU the audio of every publisher not in `open_feeds`, unmute the others,
    and kick any publisher whose feed id is not in `allowed_feeds` (when given).

    Idempotent: only streams whose moderation differs are touched. Returns how many
    requests were sent. This is what makes a mute hold even if a site's page is tampered
    with: Janus drops the audio before it reaches anyone.
    """

    async def run(admin: VideoRoomAdmin) -> int:
        sent = 0
        for publisher in await admin.published_streams(room_id, secret):
            feed = int(publisher.get("id", 0))
            if allowed_feeds is not None and feed not in allowed_feeds:
                with contextlib.suppress(MediaError):
                    await admin.kick(room_id, secret, feed)
                    sent += 1
                continue
            should_mute = feed not in open_feeds
            for stream in publisher.get("streams", []):
                if stream.get("type") != "audio" or stream.get("disabled"):
                    continue
                if bool(stream.get("moderated")) == should_mute:
                    continue
                await admin.moderate(room_id, secret, feed, str(stream["mid"]), should_mute)
                sent += 1
        return sent

    return link().run(run)


def publisher_feeds(room_id: int, secret: str) -> dict[int, list[dict[str, Any]]]:
    """Every active publisher's streams, by feed id (for tests and the doctor)."""

    async def run(admin: VideoRoomAdmin) -> dict[int, list[dict[str, Any]]]:
        return {
            int(p["id"]): list(p.get("streams", []))
            for p in await admin.published_streams(room_id, secret)
        }

    return link().run(run)


__all__ = [
    "MediaAccess",
    "MediaUnavailable",
    "Room",
    "agrant_access",
    "allowed_tokens",
    "create_room",
    "destroy_room",
    "enforce_audio",
    "grant_access",
    "publisher_feeds",
    "recreate_room",
    "revoke_access",
    "room_exists",
]
