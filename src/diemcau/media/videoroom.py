"""VideoRoom administration: the sync requests the web app makes about a meeting's room.

Docs: docs/janus.md. All requests here are synchronous in the VideoRoom API (one
``success`` reply or an error). ``create`` needs the plugin's ``admin_key``; everything
that changes a room (``destroy``, ``allowed``, ``kick``, ``moderate``) needs the room's own
``secret``, which the caller generated and stored when it created the room.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .client import JanusClient, JanusHandle
from .errors import JanusError, MediaError

PLUGIN = "janus.plugin.videoroom"
AllowedAction = Literal["enable", "disable", "add", "remove"]
# A participant id that no real publisher uses (the monitor that reads a room's streams).
MONITOR_SLOT = 9
# The rooms' recording folder: one that can never exist (a path below a device file, so
# `stat` fails with ENOTDIR and nothing is created), so Janus cannot open any recording.
# `lock_record` alone is not enough in 1.1.2: it guards `configure` and `publish`, but
# `joinandconfigure` takes `record` and `filename` unchecked (janus_videoroom.c, the
# publisher join), and the recorder then writes and creates folders wherever `filename`
# points (record.c, janus_recorder_create_full, which fails first on an unusable rec_dir).
NO_RECORDING_DIR = "/dev/null/diemcau-never-records"


@dataclass(frozen=True)
class RoomSpec:
    """What a meeting's room needs; the caller computes ``publishers`` (invited sites + 10)."""

    room_id: int
    description: str
    secret: str
    publishers: int
    bitrate: int  # bits per second, forced on every publisher via REMB
    allowed: tuple[str, ...] = ()
    videocodec: str = "vp8"
    audiocodec: str = "opus"
    notify_joining: bool = True
    fir_freq: int = 10  # seconds between keyframe requests, so late subscribers see video soon
    # Rooms live as long as the meeting; the web app re-creates them after a Janus restart.
    permanent: bool = False
    is_private: bool = True
    # Nothing is recorded in Janus (minutes are text): only the room secret, which browsers
    # never see, may change a publisher's recording state, and `rec_dir` makes any
    # recording fail to open (see NO_RECORDING_DIR; None sends no rec_dir).
    lock_record: bool = True
    rec_dir: str | None = NO_RECORDING_DIR
    # Asks Janus to hold publishers to `bitrate` whatever they `configure`. Janus 1.1.2
    # accepts and lists the flag but does not act on it: a `configure` bitrate still sets
    # the REMB sent to that publisher (tests/integration/test_janus_videoroom.py).
    bitrate_cap: bool = True
    # Opus in-band FEC negotiated with every publisher (`useinbandfec=1`): a lost audio
    # packet is rebuilt from the next one, so speech survives the loss of a weak link
    # (issue 12). Janus 1.1.2's default for API-created rooms, sent so it stays so.
    opus_fec: bool = True

    def __post_init__(self) -> None:
        if self.room_id <= 0:
            raise ValueError(f"room_id must be a positive integer (got {self.room_id})")
        if self.publishers <= 0:
            raise ValueError(f"publishers must be positive (got {self.publishers})")
        if self.bitrate < 0:
            raise ValueError(f"bitrate must not be negative (got {self.bitrate})")
        if len(self.secret) < 16:
            raise ValueError(f"room secret must be at least 16 characters (got {len(self.secret)})")
        for index, token in enumerate(self.allowed):
            if not token:
                raise ValueError(f"allowed token #{index} is empty")


@dataclass(frozen=True)
class Room:
    room_id: int
    description: str
    max_publishers: int
    bitrate: int
    num_participants: int
    is_private: bool
    videocodec: str
    audiocodec: str
    lock_record: bool
    bitrate_cap: bool
    rec_dir: str  # "" when the room has none
    opus_fec: bool = False


@dataclass(frozen=True)
class Participant:
    participant_id: int
    display: str
    publisher: bool  # True while actively publishing


class VideoRoomAdmin:
    """Room management over one VideoRoom handle of a ``JanusClient``.

    The handle is attached lazily and again after the client reconnects (the old session,
    and with it the handle, is gone).
    """

    def __init__(
        self, client: JanusClient, admin_key: str, *, timeout: float | None = None
    ) -> None:
        self.client = client
        self.admin_key = admin_key
        self.timeout = timeout
        self._handle: JanusHandle | None = None

    async def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            await handle.detach()

    async def create_room(self, spec: RoomSpec) -> int:
        """Create the room; ``RoomExists`` if the id is taken, ``Unauthorized`` on a bad key."""
        body: dict[str, Any] = {
            "request": "create",
            "admin_key": self.admin_key,
            "room": spec.room_id,
            "description": spec.description,
            "secret": spec.secret,
            "publishers": spec.publishers,
            "bitrate": spec.bitrate,
            "videocodec": spec.videocodec,
            "audiocodec": spec.audiocodec,
            "notify_joining": spec.notify_joining,
            "fir_freq": spec.fir_freq,
            "permanent": spec.permanent,
            "is_private": spec.is_private,
            "lock_record": spec.lock_record,
            "bitrate_cap": spec.bitrate_cap,
            "opus_fec": spec.opus_fec,
        }
        if spec.rec_dir is not None:
            body["rec_dir"] = spec.rec_dir
        # An empty list would still switch the ACL on and lock everyone out; callers who want
        # that say so with set_allowed(..., "enable").
        if spec.allowed:
            body["allowed"] = list(spec.allowed)
        data = await self._request(body)
        return _int(data, "room")

    async def destroy_room(self, room_id: int, secret: str) -> None:
        """Destroy the room; every participant gets a ``destroyed`` event and is hung up."""
        await self._request({"request": "destroy", "room": room_id, "secret": secret})

    async def exists(self, room_id: int) -> bool:
        data = await self._request({"request": "exists", "room": room_id})
        return data.get("exists") is True

    async def list_rooms(self) -> list[Room]:
        """All rooms, private ones included (the admin_key is sent)."""
        data = await self._request({"request": "list", "admin_key": self.admin_key})
        rooms = data.get("list")
        if not isinstance(rooms, list):
            raise JanusError(0, f"list reply has no list: {data!r}")
        return [_room(item) for item in rooms if isinstance(item, Mapping)]

    async def allowed(
        self, room_id: int, secret: str, action: AllowedAction, tokens: Iterable[str] = ()
    ) -> list[str]:
        """Change the room's join-token ACL; return the complete list after the change.

        ``add``/``remove`` change the list, ``enable``/``disable`` switch checking on/off.
        """
        if action not in ("enable", "disable", "add", "remove"):
            raise ValueError(
                f"action must be in ['enable', 'disable', 'add', 'remove'] (got {action!r})"
            )
        body: dict[str, Any] = {
            "request": "allowed",
            "room": room_id,
            "secret": secret,
            "action": action,
        }
        if action in ("add", "remove"):
            body["allowed"] = list(tokens)
        data = await self._request(body)
        listed = data.get("allowed")
        return [str(t) for t in listed] if isinstance(listed, list) else []

    async def kick(self, room_id: int, secret: str, participant_id: int) -> None:
        """Hang up a participant; remove their token first (``allowed``) to keep them out."""
        await self._request(
            {"request": "kick", "room": room_id, "secret": secret, "id": participant_id}
        )

    async def moderate(
        self, room_id: int, secret: str, participant_id: int, mid: str, mute: bool
    ) -> None:
        """Mute/unmute one published stream at the SFU.

        Janus 1.1 addresses streams by ``mid`` (the m-line's id in the publisher's SDP), not
        by "audio"/"video"; the browser reports its mids, or they are read from the
        ``streams`` of the room's ``publishers`` events. Unmuting lifts only our block: a
        participant who muted themselves stays muted.
        """
        await self._request(
            {
                "request": "moderate",
                "room": room_id,
                "secret": secret,
                "id": participant_id,
                "mid": mid,
                "mute": mute,
            }
        )

    async def list_participants(self, room_id: int) -> list[Participant]:
        data = await self._request({"request": "listparticipants", "room": room_id})
        people = data.get("participants")
        if not isinstance(people, list):
            raise JanusError(0, f"listparticipants reply has no participants: {data!r}")
        return [
            Participant(
                participant_id=_int(p, "id"),
                display=str(p.get("display", "")),
                publisher=p.get("publisher") is True,
            )
            for p in people
            if isinstance(p, Mapping)
        ]

    async def published_streams(self, room_id: int, secret: str) -> list[dict[str, Any]]:
        """Every active publisher with its streams (mid, type, moderated).

        Only a participant's `joined` event lists the streams with their moderation, so a
        monitor joins briefly on a handle of its own, publishing nothing, with a one-off
        token added to the room's ACL and removed again.
        """
        token = secrets.token_urlsafe(24)
        await self.allowed(room_id, secret, "add", [token])
        handle = await self.client.attach(PLUGIN)
        try:
            reply = await handle.message(
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": room_id,
                    "id": secrets.randbelow(10**12) * 10 + MONITOR_SLOT,
                    "display": "diemcau-monitor",
                    "token": token,
                },
                timeout=self.timeout,
            )
            publishers = reply.data.get("publishers", [])
            with contextlib.suppress(MediaError):
                await handle.message({"request": "leave"})
            return [p for p in publishers if isinstance(p, dict)]
        finally:
            with contextlib.suppress(MediaError):
                await handle.detach()
            with contextlib.suppress(MediaError):
                await self.allowed(room_id, secret, "remove", [token])

    async def _request(self, body: Mapping[str, Any]) -> dict[str, Any]:
        handle = self._handle
        if handle is None or handle.detached or handle.session_id != self.client.session_id:
            handle = self._handle = await self.client.attach(PLUGIN)
        reply = await handle.message(body, timeout=self.timeout)
        return reply.data


def _room(item: Mapping[str, Any]) -> Room:
    return Room(
        room_id=_int(item, "room"),
        description=str(item.get("description", "")),
        max_publishers=_int(item, "max_publishers"),
        bitrate=_int(item, "bitrate"),
        num_participants=_int(item, "num_participants"),
        is_private=item.get("is_private") is True,
        videocodec=str(item.get("videocodec", "")),
        audiocodec=str(item.get("audiocodec", "")),
        lock_record=item.get("lock_record") is True,
        # Janus 1.1.2 lists `bitrate_cap` only when it is on, and `rec_dir` only when set.
        bitrate_cap=item.get("bitrate_cap") is True,
        rec_dir=str(item.get("rec_dir") or ""),
        # Listed only when on, like bitrate_cap.
        opus_fec=item.get("opus_fec") is True,
    )


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise JanusError(0, f"expected an integer {key!r} in VideoRoom reply, got {value!r}")
    return value
