"""Whose audio passes, decided by the live state and enforced by a real Janus.

Publishers join the meeting's room as the site pages do: with the tokens and the feed id
that `media_policy.access_for` hands out. The SFU's `moderate` is checked twice: by what a
subscriber receives, and by the `moderated` flag Janus reports for each stream.
Docs: docs/live.md (media policy).
"""

# A timeout is part of the helpers' API on purpose: "this long at most" for media.

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from diemcau.accounts.models import Role, User
from diemcau.config import JanusSettings
from diemcau.live import lifecycle, media_policy, services
from diemcau.live.services import Actor
from diemcau.media.client import JanusClient
from diemcau.media.supervisor import JanusSupervisor
from diemcau.meetings.models import Meeting
from diemcau.sfu import rooms
from diemcau.sfu.feeds import feed_id
from tests.conftest import Org
from tests.support.peers import Publisher, Subscriber, publish, subscribe

pytestmark = [pytest.mark.janus, pytest.mark.django_db(transaction=True)]


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


@pytest.fixture
def live_meeting(meeting: Meeting, janus_settings: JanusSettings) -> Meeting:
    started = lifecycle.start_meeting(meeting)
    assert started.janus_room is not None
    return started


async def publish_as(client: JanusClient, access: dict[str, Any], display: str) -> Publisher:
    """Publish as a site page does: with the feed id the server assigned."""
    return await publish(client, access["room"], access["room_token"], display, access["feed"])


async def in_thread[T](call: Callable[..., T], *args: Any) -> T:
    """Django and `rooms` are synchronous (async_to_sync inside): run them off the loop."""
    return await asyncio.to_thread(call, *args)


async def settled_count(sub: Subscriber, quiet: float = 0.5) -> int:
    """Audio packets received once the count has stood still for `quiet` seconds.

    Packets in flight may still land after a mute; audio is 50 packets/s, so half a second
    without one is the SFU dropping them, not chance.
    """
    async with asyncio.timeout(10):
        last = await sub.packets_received("audio")
        while True:
            await asyncio.sleep(quiet)
            now = await sub.packets_received("audio")
            if now == last:
                return now
            last = now


async def stays_silent(sub: Subscriber) -> bool:
    stalled = await settled_count(sub)
    await asyncio.sleep(1.0)  # the observation window itself: nothing to await instead
    return await sub.packets_received("audio") == stalled


async def audio_flows(sub: Subscriber, frames: int = 25) -> bool:
    before_packets = await sub.packets_received("audio")
    before = sub.frames["audio"]
    await sub.wait_for(lambda: sub.frames["audio"] >= before + frames)
    return await sub.packets_received("audio") > before_packets


def audio_moderated(meeting: Meeting) -> dict[int, bool]:
    """Per feed id: is its audio stream muted at the SFU, as Janus reports it."""
    assert meeting.janus_room is not None
    feeds = rooms.publisher_feeds(meeting.janus_room, meeting.janus_room_secret)
    return {
        feed: bool(stream.get("moderated"))
        for feed, streams in feeds.items()
        for stream in streams
        if stream.get("type") == "audio"
    }


@dataclass
class Room:
    meeting: Meeting
    org: Org
    chair: Actor
    hq: Publisher
    site_a: Publisher
    site_b: Publisher
    hears_a: Subscriber
    hears_hq: Subscriber

    def feed(self, site_pk: int) -> int:
        return feed_id(site_pk)


async def in_room(meeting: Meeting, org: Org, scenario: Callable[[Room], Awaitable[None]]) -> None:
    """HQ, site A and site B publish; a subscriber (with HQ's token) listens to A and HQ."""

    chair_user = await in_thread(
        lambda: User.objects.get_or_create(username="chu-tri-audio", role=Role.CHAIR)[0]
    )

    def actor(site_pk: int, hq: bool = False) -> Actor:
        user = chair_user if hq else None
        return Actor(meeting_id=meeting.pk, site_id=site_pk, hq=hq, user=user, chair=hq)

    chair = actor(org.main.pk, hq=True)
    # The three pages' control connections are open: only connected sites may publish.
    for page in (chair, actor(org.site_a.pk), actor(org.site_b.pk)):
        await in_thread(services.site_connected, page)
    access = {
        name: await in_thread(media_policy.access_for, a)
        for name, a in (
            ("hq", chair),
            ("a", actor(org.site_a.pk)),
            ("b", actor(org.site_b.pk)),
        )
    }
    assert access["a"]["feed"] == org.site_a.pk * 10 + 1
    assert access["a"]["screen_feed"] == org.site_a.pk * 10 + 2
    clients = {
        name: JanusClient(a["janus_url"], token=a["core_token"], reconnect=False)
        for name, a in access.items()
    }
    closing: list[Publisher | Subscriber] = []
    try:
        for c in clients.values():
            await c.connect()
        hq = await publish_as(clients["hq"], access["hq"], "Điểm cầu chính")
        closing.append(hq)
        site_a = await publish_as(clients["a"], access["a"], "Cao su Đồng Nai")
        closing.append(site_a)
        site_b = await publish_as(clients["b"], access["b"], "Cao su Dầu Tiếng")
        closing.append(site_b)
        room_id, token = access["hq"]["room"], access["hq"]["room_token"]
        hears_a = await subscribe(clients["hq"], room_id, site_a.participant_id, token)
        closing.append(hears_a)
        hears_hq = await subscribe(clients["hq"], room_id, hq.participant_id, token)
        closing.append(hears_hq)
        await scenario(Room(meeting, org, chair, hq, site_a, site_b, hears_a, hears_hq))
    finally:
        for peer in reversed(closing):
            await peer.close()
        for c in clients.values():
            await c.close()


def test_publishers_join_with_the_feed_ids_the_server_assigned(
    live_meeting: Meeting, org: Org
) -> None:
    async def scenario(room: Room) -> None:
        assert room.site_a.participant_id == feed_id(org.site_a.pk)
        assert room.site_b.participant_id == feed_id(org.site_b.pk)
        assert room.hq.participant_id == feed_id(org.main.pk)
        moderated = await in_thread(audio_moderated, live_meeting)
        assert set(moderated) == {feed_id(s.pk) for s in (org.main, org.site_a, org.site_b)}

    asyncio.run(in_room(live_meeting, org, scenario))


def test_floor_opens_a_sites_audio_at_the_sfu_and_the_chairs_mute_closes_it(
    live_meeting: Meeting, org: Org
) -> None:
    a, b, main = feed_id(org.site_a.pk), feed_id(org.site_b.pk), feed_id(org.main.pk)

    async def scenario(room: Room) -> None:
        # Before anything is enforced Janus relays everyone: the subscriber hears A.
        assert await audio_flows(room.hears_a)

        # By default only the main source (HQ) is heard: branch sites are moderated.
        assert await in_thread(media_policy.enforce_audio, live_meeting.pk) == 2
        assert await in_thread(audio_moderated, live_meeting) == {a: True, b: True, main: False}
        assert await stays_silent(room.hears_a)
        assert await audio_flows(room.hears_hq)
        # Enforcing again changes nothing: only differing streams are touched.
        assert await in_thread(media_policy.enforce_audio, live_meeting.pk) == 0

        # The floor opens A's microphone, and only A's.
        await in_thread(services.grant_floor, room.chair, None, org.site_a.pk)
        assert await in_thread(media_policy.enforce_audio, live_meeting.pk) == 1
        assert await in_thread(audio_moderated, live_meeting) == {a: False, b: True, main: False}
        assert await audio_flows(room.hears_a)

        # The chair mutes A although it holds the floor: silence again.
        await in_thread(services.set_mute, room.chair, org.site_a.pk, True)
        assert await in_thread(media_policy.enforce_audio, live_meeting.pk) == 1
        assert await in_thread(audio_moderated, live_meeting) == {a: True, b: True, main: False}
        assert await stays_silent(room.hears_a)
        assert await audio_flows(room.hears_hq)  # HQ is never cut by a site's mute

    asyncio.run(in_room(live_meeting, org, scenario))


def test_main_source_audio_passes_and_moves_with_the_main_source(
    live_meeting: Meeting, org: Org
) -> None:
    a, b, main = feed_id(org.site_a.pk), feed_id(org.site_b.pk), feed_id(org.main.pk)

    async def scenario(room: Room) -> None:
        await in_thread(media_policy.enforce_audio, live_meeting.pk)
        assert await audio_flows(room.hears_hq)
        assert await stays_silent(room.hears_a)

        # Site A shown full screen everywhere: its audio passes too.
        await in_thread(services.set_main_source, room.chair, org.site_a.pk)
        await in_thread(media_policy.enforce_audio, live_meeting.pk)
        moderated = await in_thread(audio_moderated, live_meeting)
        assert moderated[a] is False and moderated[b] is True
        assert await audio_flows(room.hears_a)

        # Back to HQ: A is moderated again. HQ as the main site itself is not.
        await in_thread(services.set_main_source, room.chair, None)
        await in_thread(media_policy.enforce_audio, live_meeting.pk)
        moderated = await in_thread(audio_moderated, live_meeting)
        assert moderated == {a: True, b: True, main: False}
        assert await stays_silent(room.hears_a)

    asyncio.run(in_room(live_meeting, org, scenario))


def test_a_feed_id_taken_by_another_page_is_kicked_while_its_site_is_not_connected(
    live_meeting: Meeting, org: Org
) -> None:
    """Janus's room tokens do not bind a feed id: site B's page can join under HQ's id.
    The server keeps a publisher only while the site owning that id is connected, so the
    impostor is kicked at the next enforcement and is never heard as HQ."""

    async def scenario() -> None:
        b = Actor(meeting_id=live_meeting.pk, site_id=org.site_b.pk, hq=False)
        await in_thread(services.site_connected, b)
        access = await in_thread(media_policy.access_for, b)
        impostor = {**access, "feed": feed_id(org.main.pk)}
        async with JanusClient(
            access["janus_url"], token=access["core_token"], reconnect=False
        ) as client:
            publisher = await publish_as(client, impostor, "Điểm cầu chính")
            try:
                assert feed_id(org.main.pk) in await in_thread(audio_moderated, live_meeting)
                await in_thread(media_policy.enforce_audio, live_meeting.pk)
                assert feed_id(org.main.pk) not in await in_thread(audio_moderated, live_meeting)
            finally:
                await publisher.close()

    asyncio.run(scenario())
