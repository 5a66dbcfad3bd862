"""VideoRoom against a real Janus: room secrets, tokens, media through the SFU, moderation.

Docs: docs/janus.md.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from diemcau.media.client import JanusClient
from diemcau.media.errors import (
    CoreUnauthorized,
    MissingElement,
    NoSuchRoom,
    RoomExists,
    RoomUnauthorized,
    Unauthorized,
    UnauthorizedPlugin,
)
from diemcau.media.supervisor import JanusSupervisor
from diemcau.media.tokens import sign_token
from diemcau.media.videoroom import NO_RECORDING_DIR, PLUGIN, RoomSpec, VideoRoomAdmin
from tests.support.peers import Publisher, Subscriber, publish, subscribe

pytestmark = [pytest.mark.janus, pytest.mark.asyncio(loop_scope="session")]


def core_token(janus: JanusSupervisor, **kwargs: Any) -> str:
    return sign_token(janus.config.token_auth_secret, **kwargs)


def new_room_spec(**overrides: Any) -> RoomSpec:
    """A room as the web app would ask for it: 3 invited sites + 10 spare publisher seats."""
    values: dict[str, Any] = {
        "room_id": secrets.randbelow(2**40) + 1,
        "description": "Họp giao ban",
        "secret": secrets.token_urlsafe(24),
        "publishers": 3 + 10,
        "bitrate": 512_000,
        "allowed": (secrets.token_urlsafe(16),),
    }
    values.update(overrides)
    return RoomSpec(**values)


# --- rooms and the admin_key ----------------------------------------------------------


async def test_room_created_with_admin_key_exists(admin: VideoRoomAdmin) -> None:
    spec = new_room_spec()
    assert await admin.create_room(spec) == spec.room_id
    assert await admin.exists(spec.room_id)
    listed = {room.room_id: room for room in await admin.list_rooms()}
    room = listed[spec.room_id]
    assert room.max_publishers == spec.publishers
    assert room.bitrate == spec.bitrate
    assert room.videocodec == "vp8"
    assert room.audiocodec == "opus"
    assert room.is_private
    await admin.destroy_room(spec.room_id, spec.secret)


async def test_room_is_listed_with_recording_and_bitrate_locked(admin: VideoRoomAdmin) -> None:
    spec = new_room_spec()
    await admin.create_room(spec)
    room = {room.room_id: room for room in await admin.list_rooms()}[spec.room_id]
    assert (room.lock_record, room.bitrate_cap, room.rec_dir) == (True, True, NO_RECORDING_DIR)
    await admin.destroy_room(spec.room_id, spec.secret)


async def test_room_is_listed_with_opus_fec(admin: VideoRoomAdmin) -> None:
    """Issue 12: Opus in-band FEC for every publisher, so audio survives a lossy link."""
    spec = new_room_spec()
    await admin.create_room(spec)
    room = {room.room_id: room for room in await admin.list_rooms()}[spec.room_id]
    assert room.opus_fec
    await admin.destroy_room(spec.room_id, spec.secret)
    # And a room asked without it lists none (the flag is what Janus negotiates).
    plain = new_room_spec(opus_fec=False)
    await admin.create_room(plain)
    room = {room.room_id: room for room in await admin.list_rooms()}[plain.room_id]
    assert not room.opus_fec
    await admin.destroy_room(plain.room_id, plain.secret)


async def test_room_id_taken_is_refused(admin: VideoRoomAdmin) -> None:
    spec = new_room_spec()
    await admin.create_room(spec)
    with pytest.raises(RoomExists):
        await admin.create_room(spec)
    await admin.destroy_room(spec.room_id, spec.secret)


async def test_create_with_wrong_admin_key_is_refused(client: JanusClient) -> None:
    spec = new_room_spec()
    wrong = VideoRoomAdmin(client, admin_key=secrets.token_urlsafe(32))
    with pytest.raises(RoomUnauthorized) as refused:
        await wrong.create_room(spec)
    assert isinstance(refused.value, Unauthorized)
    assert refused.value.code == 433
    await wrong.close()


async def test_create_without_admin_key_is_refused(
    client: JanusClient, admin: VideoRoomAdmin
) -> None:
    # Janus 1.1.2 checks presence before value: a missing key is 429, not 433.
    handle = await client.attach(PLUGIN)
    room_id = new_room_spec().room_id
    with pytest.raises(MissingElement, match="admin_key"):
        await handle.message({"request": "create", "room": room_id})
    await handle.detach()
    assert not await admin.exists(room_id)


async def test_destroy_with_wrong_secret_is_refused(admin: VideoRoomAdmin) -> None:
    spec = new_room_spec()
    await admin.create_room(spec)
    with pytest.raises(RoomUnauthorized):
        await admin.destroy_room(spec.room_id, "not-the-room-secret")
    assert await admin.exists(spec.room_id)
    await admin.destroy_room(spec.room_id, spec.secret)


async def test_destroy_removes_room(admin: VideoRoomAdmin) -> None:
    spec = new_room_spec()
    await admin.create_room(spec)
    await admin.destroy_room(spec.room_id, spec.secret)
    assert not await admin.exists(spec.room_id)
    assert spec.room_id not in {room.room_id for room in await admin.list_rooms()}
    with pytest.raises(NoSuchRoom):
        await admin.destroy_room(spec.room_id, spec.secret)


# --- core tokens -------------------------------------------------------------------------


async def test_session_without_core_token_is_refused(janus: JanusSupervisor) -> None:
    with pytest.raises(CoreUnauthorized):
        await JanusClient(janus.url, reconnect=False).connect()


async def test_session_with_expired_core_token_is_refused(janus: JanusSupervisor) -> None:
    expired = core_token(janus, ttl_seconds=-10)
    with pytest.raises(CoreUnauthorized):
        await JanusClient(janus.url, token=expired, reconnect=False).connect()


async def test_session_with_badly_signed_core_token_is_refused(janus: JanusSupervisor) -> None:
    forged = sign_token(secrets.token_urlsafe(32))
    with pytest.raises(CoreUnauthorized):
        await JanusClient(janus.url, token=forged, reconnect=False).connect()
    good = core_token(janus)
    data, _, signature = good.partition(":")
    tampered = f"{int(data.split(',')[0]) + 3600},{data.split(',', 1)[1]}:{signature}"
    with pytest.raises(CoreUnauthorized):
        await JanusClient(janus.url, token=tampered, reconnect=False).connect()


async def test_core_token_without_videoroom_cannot_attach_it(janus: JanusSupervisor) -> None:
    token = core_token(janus, plugins=("janus.plugin.echotest",))
    async with JanusClient(janus.url, token=token, reconnect=False) as c:
        with pytest.raises(UnauthorizedPlugin):
            await c.attach(PLUGIN)


# --- room tokens and media -------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def room(admin: VideoRoomAdmin) -> AsyncIterator[RoomSpec]:
    spec = new_room_spec()
    await admin.create_room(spec)
    yield spec
    if await admin.exists(spec.room_id):
        await admin.destroy_room(spec.room_id, spec.secret)


async def test_join_without_room_token_is_refused(client: JanusClient, room: RoomSpec) -> None:
    with pytest.raises(RoomUnauthorized):
        await publish(client, room.room_id, room_token=None)


async def test_join_with_wrong_room_token_is_refused(client: JanusClient, room: RoomSpec) -> None:
    with pytest.raises(RoomUnauthorized):
        await publish(client, room.room_id, room_token=secrets.token_urlsafe(16))


async def test_room_token_added_then_removed(
    client: JanusClient, admin: VideoRoomAdmin, room: RoomSpec
) -> None:
    extra = secrets.token_urlsafe(16)
    assert extra in await admin.allowed(room.room_id, room.secret, "add", [extra])
    assert extra not in await admin.allowed(room.room_id, room.secret, "remove", [extra])
    with pytest.raises(RoomUnauthorized):
        await publish(client, room.room_id, room_token=extra)


@dataclass
class Live:
    room: RoomSpec
    publisher: Publisher
    subscriber: Subscriber


@pytest_asyncio.fixture(loop_scope="session")
async def live(client: JanusClient, room: RoomSpec) -> AsyncIterator[Live]:
    token = room.allowed[0]
    publisher = await publish(client, room.room_id, token)
    subscriber = await subscribe(client, room.room_id, publisher.participant_id, token)
    yield Live(room, publisher, subscriber)
    await subscriber.close()
    await publisher.close()


async def test_subscriber_receives_publisher_video(live: Live, admin: VideoRoomAdmin) -> None:
    await live.subscriber.wait_for(lambda: live.subscriber.frames["video"] >= 30)
    await live.subscriber.wait_for(lambda: live.subscriber.frames["audio"] >= 25)
    people = await admin.list_participants(live.room.room_id)
    assert [(p.participant_id, p.publisher) for p in people] == [
        (live.publisher.participant_id, True)
    ]


async def test_moderate_mutes_publisher_audio_at_sfu(live: Live, admin: VideoRoomAdmin) -> None:
    sub = live.subscriber
    room = live.room
    pub_id = live.publisher.participant_id
    await sub.wait_for(lambda: sub.frames["audio"] >= 25)

    await admin.moderate(room.room_id, room.secret, pub_id, live.publisher.mids["audio"], True)
    # Packets already in flight may still land; once the count is still for 0.5 s, Janus
    # has stopped relaying. Audio is 50 packets/s, so 0.5 s of silence is not chance.
    muted_at = await _settled_count(sub, "audio")
    await asyncio.sleep(1.0)  # the observation window itself: nothing to await instead
    assert await sub.packets_received("audio") == muted_at
    video_before = sub.frames["video"]
    await sub.wait_for(lambda: sub.frames["video"] > video_before + 10)  # video still flows

    await admin.moderate(room.room_id, room.secret, pub_id, live.publisher.mids["audio"], False)
    audio_before = sub.frames["audio"]
    await sub.wait_for(lambda: sub.frames["audio"] > audio_before + 25)
    assert await sub.packets_received("audio") > muted_at


async def test_kicked_publisher_leaves_room(live: Live, admin: VideoRoomAdmin) -> None:
    await admin.kick(live.room.room_id, live.room.secret, live.publisher.participant_id)
    await live.publisher.handle.next_event("event", lambda e: e.data.get("reason") == "kicked")
    assert await admin.list_participants(live.room.room_id) == []


# --- what a publisher may not ask for --------------------------------------------------

# How a publisher asks Janus to record it to a file of its choosing: each request that takes
# `record` and `filename` (janus_videoroom.c: configure, publish, joinandconfigure).
RECORD_REQUESTS = ["configure", "publish", "joinandconfigure"]


@pytest.mark.parametrize("request_name", RECORD_REQUESTS)
async def test_publisher_cannot_record_itself(
    client: JanusClient, room: RoomSpec, tmp_path: Path, request_name: str
) -> None:
    target = tmp_path / "recordings"
    ask = {"record": True, "filename": str(target / "evil")}
    publisher = await publish(
        client,
        room.room_id,
        room.allowed[0],
        join_fields=ask if request_name == "joinandconfigure" else None,
        publish_fields=ask if request_name == "publish" else None,
    )
    try:
        if request_name == "configure":
            # Janus answers as if it had done it: a refused recording is not an error.
            reply = await publisher.handle.message({"request": "configure", **ask})
            assert reply.data.get("configured") == "ok"
        # Media flows (so a recorder would have had something to write)...
        await publisher.wait_for_remb(after=0)
        # ...and Janus opens recorders when asked or when media starts, so a file would be
        # there by now; a second more lets nothing be missed.
        await asyncio.sleep(1.0)
        # Nothing at all: no folder made for `filename`, no .mjr file.
        assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == []
    finally:
        await publisher.close()


async def _settled_count(sub: Subscriber, kind: str, quiet: float = 0.5) -> int:
    async with asyncio.timeout(10):
        last = await sub.packets_received(kind)
        while True:
            await asyncio.sleep(quiet)
            now = await sub.packets_received(kind)
            if now == last:
                return now
            last = now
