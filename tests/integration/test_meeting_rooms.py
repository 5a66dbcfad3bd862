"""The web app's meeting services against a real Janus: rooms follow the meeting's life."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from diemcau.config import JanusSettings
from diemcau.live import lifecycle, media_policy
from diemcau.live.actions import Actor, Refused
from diemcau.media.client import JanusClient
from diemcau.media.errors import RoomUnauthorized
from diemcau.media.supervisor import JanusSupervisor
from diemcau.media.tokens import sign_token
from diemcau.media.videoroom import NO_RECORDING_DIR, Room
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.meetings.services import revoke_join_link
from diemcau.sfu import rooms
from diemcau.sfu.link import link
from diemcau.sfu.upkeep import restore_live_rooms
from tests.support.peers import publish

pytestmark = pytest.mark.janus


@pytest.fixture
def janus_settings(settings: Any, janus: JanusSupervisor) -> JanusSettings:
    config = janus.config
    settings.JANUS = JanusSettings(
        url=config.ws_url,
        admin_key=config.admin_key,
        token_auth_secret=config.token_auth_secret,
        admin_secret=config.admin_secret,
        embedded=False,
        public_url=config.ws_url,
    )
    return settings.JANUS


def test_starting_a_meeting_creates_its_room_and_ending_destroys_it(
    meeting: Meeting, janus_settings: JanusSettings
) -> None:
    started = lifecycle.start_meeting(meeting)
    assert started.status == MeetingStatus.LIVE and started.janus_room is not None
    room = started.janus_room
    assert rooms.room_exists(room)
    lifecycle.end_meeting(started)
    assert not rooms.room_exists(room)
    started.refresh_from_db()
    assert started.status == MeetingStatus.ENDED and started.janus_room is None


def test_unreachable_janus_leaves_the_meeting_scheduled(meeting: Meeting, settings: Any) -> None:
    settings.JANUS = JanusSettings(
        url="ws://127.0.0.1:9",
        admin_key="k" * 32,
        token_auth_secret="t" * 32,
        admin_secret="a" * 32,
        embedded=False,
        public_url="ws://127.0.0.1:9",
    )
    with pytest.raises(rooms.MediaUnavailable):
        lifecycle.start_meeting(meeting)
    meeting.refresh_from_db()
    assert meeting.status == MeetingStatus.SCHEDULED and meeting.janus_room is None


def test_wrong_admin_key_is_reported_and_nothing_changes(
    meeting: Meeting, janus_settings: JanusSettings, settings: Any
) -> None:
    settings.JANUS = JanusSettings(**{**janus_settings.__dict__, "admin_key": "x" * 40})
    with pytest.raises(rooms.MediaUnavailable, match="433"):
        lifecycle.start_meeting(meeting)
    meeting.refresh_from_db()
    assert meeting.status == MeetingStatus.SCHEDULED


def test_room_lost_by_janus_is_restored_with_the_same_id_and_secret(
    meeting: Meeting, janus_settings: JanusSettings
) -> None:
    started = lifecycle.start_meeting(meeting)
    assert started.janus_room is not None
    rooms.destroy_room(started.janus_room, started.janus_room_secret)  # as if Janus restarted
    assert restore_live_rooms() == [started.pk]
    assert rooms.room_exists(started.janus_room)
    assert restore_live_rooms() == []
    lifecycle.end_meeting(started)  # the secret still works: the restored room is destroyed
    assert not rooms.room_exists(started.janus_room)


def _locks(room_id: int) -> tuple[bool, bool, str, int]:
    """What Janus lists for the room: lock_record, bitrate_cap, rec_dir, bitrate."""
    listed: list[Room] = link().run(lambda admin: admin.list_rooms())
    room = next(room for room in listed if room.room_id == room_id)
    return (room.lock_record, room.bitrate_cap, room.rec_dir, room.bitrate)


def test_meeting_rooms_lock_recording_and_bitrate_also_when_restored(
    meeting: Meeting, janus_settings: JanusSettings, settings: Any
) -> None:
    locked = (True, True, NO_RECORDING_DIR, settings.JANUS_ROOM_BITRATE)
    started = lifecycle.start_meeting(meeting)
    assert started.janus_room is not None
    assert _locks(started.janus_room) == locked
    rooms.destroy_room(started.janus_room, started.janus_room_secret)  # as if Janus restarted
    assert restore_live_rooms() == [started.pk]
    assert _locks(started.janus_room) == locked
    lifecycle.end_meeting(started)


def test_participant_access_joins_only_with_its_own_tokens(
    meeting: Meeting, janus_settings: JanusSettings
) -> None:
    started = lifecycle.start_meeting(meeting)
    assert started.janus_room is not None
    access = rooms.grant_access(started.janus_room, started.janus_room_secret)

    async def join(core_token: str, room_token: str | None) -> None:
        async with JanusClient(access.janus_url, token=core_token, reconnect=False) as client:
            publisher = await publish(client, access.room_id, room_token)
            await publisher.close()

    asyncio.run(join(access.core_token, access.room_token))
    with pytest.raises(RoomUnauthorized):
        asyncio.run(join(access.core_token, "not-issued"))
    # A core token signed with another secret cannot even open a session.
    with pytest.raises(Exception, match=r"403|nauthori"):
        asyncio.run(join(sign_token("another-secret-of-enough-length"), access.room_token))
    lifecycle.end_meeting(started)


@pytest.mark.django_db(transaction=True)
def test_revoking_a_sites_link_takes_its_token_out_and_kicks_its_feed(
    meeting: Meeting, janus_settings: JanusSettings
) -> None:
    """Issue 11, item 3: the room page of a revoked link can neither stay nor come back."""
    started = lifecycle.start_meeting(meeting)
    assert started.janus_room is not None
    room_id, secret = started.janus_room, started.janus_room_secret
    invitation = started.invitations.select_related("site").first()
    assert invitation is not None
    actor = Actor(started.pk, invitation.site_id, hq=False, link=invitation.nonce)
    access = media_policy.access_for(actor)
    assert access["room_token"] in rooms.allowed_tokens(room_id, secret)

    async def run() -> None:
        async with JanusClient(access["janus_url"], token=access["core_token"]) as client:
            publisher = await publish(client, room_id, access["room_token"], feed=access["feed"])
            assert access["feed"] in await asyncio.to_thread(rooms.publisher_feeds, room_id, secret)

            # Autocommit: the revocation runs at once, as after the view's commit.
            await asyncio.to_thread(revoke_join_link, invitation)
            assert access["feed"] not in await asyncio.to_thread(
                rooms.publisher_feeds, room_id, secret
            )
            await publisher.close()
        async with JanusClient(access["janus_url"], token=access["core_token"]) as client:
            with pytest.raises(RoomUnauthorized):
                await publish(client, room_id, access["room_token"], feed=access["feed"])

    asyncio.run(run())
    assert access["room_token"] not in rooms.allowed_tokens(room_id, secret)
    with pytest.raises(Refused):
        media_policy.access_for(actor)  # the page's old link
    lifecycle.end_meeting(started)


def test_doctor_passes_against_a_running_janus(
    db: None, janus_settings: JanusSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    from django.conf import settings
    from django.core.management import call_command

    # The front has a test of its own (test_front_caddy.py); here Janus is what is checked.
    settings.FRONT = dataclasses.replace(settings.FRONT, mode="external")
    # So has TURN (test_doctor_turn.py).
    settings.TURN = dataclasses.replace(settings.TURN, mode="off")
    call_command("doctor", "--port", "1")
    out = capsys.readouterr().out
    assert "✗" not in out, out
    assert "Janus 1.1" in out


def test_one_janus_session_serves_every_request_and_survives_a_janus_restart(
    meeting: Meeting, janus_settings: JanusSettings, make_janus_config: Any
) -> None:
    """One long-lived admin session per process, not one per grant (issue 10, item 4)."""
    from diemcau.sfu import link

    link.reset()
    started = lifecycle.start_meeting(meeting)
    assert started.janus_room is not None
    for _ in range(20):
        rooms.grant_access(started.janus_room, started.janus_room_secret, (11, 12))
    assert link.link().sessions_opened == 1

    room_id, secret = started.janus_room, started.janus_room_secret

    async def grants_at_once() -> None:
        await asyncio.gather(*(rooms.agrant_access(room_id, secret) for _ in range(20)))

    asyncio.run(grants_at_once())
    assert link.link().sessions_opened == 1
    lifecycle.end_meeting(started)


def test_the_link_reconnects_to_a_restarted_janus(settings: Any, make_janus_config: Any) -> None:
    from diemcau.sfu import link

    config = make_janus_config(47000)
    settings.JANUS = JanusSettings(
        url=config.ws_url,
        admin_key=config.admin_key,
        token_auth_secret=config.token_auth_secret,
        admin_secret=config.admin_secret,
        embedded=False,
        public_url=config.ws_url,
    )

    async def scenario() -> None:
        janus = JanusSupervisor(config)
        await janus.start()
        try:
            link.reset()
            room = await asyncio.to_thread(rooms.create_room, description="x", publishers=5)
            await janus.stop()
            with pytest.raises(rooms.MediaUnavailable):
                await asyncio.to_thread(rooms.room_exists, room.room_id)
            await janus.start()
            # Janus lost the room with its memory; the same link answers once it is back.
            assert not await asyncio.to_thread(rooms.room_exists, room.room_id)
            assert link.link().sessions_opened == 2
        finally:
            link.reset()
            await janus.stop()

    asyncio.run(scenario())
