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
from diemcau.live.models import LiveState
from diemcau.live.services import Actor
from diemcau.live.state import build
from diemcau.media.client import JanusClient
from diemcau.media.supervisor import JanusSupervisor
from diemcau.meetings.models import Invitation, Meeting
from diemcau.sfu import rooms
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
    feeds: dict[int, int]  # site id -> the camera feed id the server issued its page

    def feed(self, site_pk: int) -> int:
        return self.feeds[site_pk]


async def in_room(meeting: Meeting, org: Org, scenario: Callable[[Room], Awaitable[None]]) -> None:
    """HQ, site A and site B publish; a subscriber (with HQ's token) listens to A and HQ."""

    chair_user = await in_thread(
        lambda: User.objects.get_or_create(username="chu-tri-audio", role=Role.CHAIR)[0]
    )

    # A site's page acts with the nonce of the join link it opened.
    nonces = await in_thread(
        lambda: dict(Invitation.objects.filter(meeting=meeting).values_list("site_id", "nonce"))
    )

    def actor(site_pk: int, hq: bool = False) -> Actor:
        user = chair_user if hq else None
        link = "" if hq else nonces[site_pk]
        return Actor(meeting_id=meeting.pk, site_id=site_pk, hq=hq, user=user, chair=hq, link=link)

    chair = actor(org.main.pk, hq=True)
    # The three pages' control connections are open: only connected sites may publish.
    pages = {"hq": chair, "a": actor(org.site_a.pk), "b": actor(org.site_b.pk)}
    connection = {
        name: (await in_thread(services.site_connected, page))[1] for name, page in pages.items()
    }
    access = {
        name: await in_thread(media_policy.access_for, page, "", connection[name])
        for name, page in pages.items()
    }
    site_of = {"hq": org.main.pk, "a": org.site_a.pk, "b": org.site_b.pk}
    feeds = {site_of[name]: int(a["feed"]) for name, a in access.items()}
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
        for name, page in pages.items():
            # Each page reports it is published: its mute applied, then it is named.
            assert await in_thread(media_policy.published, page, connection[name])
        await scenario(Room(meeting, org, chair, hq, site_a, site_b, hears_a, hears_hq, feeds))
    finally:
        for peer in reversed(closing):
            await peer.close()
        for c in clients.values():
            await c.close()


def test_publishers_join_with_the_feed_ids_the_server_assigned(
    live_meeting: Meeting, org: Org
) -> None:
    async def scenario(room: Room) -> None:
        assert room.site_a.participant_id == room.feed(org.site_a.pk)
        assert room.site_b.participant_id == room.feed(org.site_b.pk)
        assert room.hq.participant_id == room.feed(org.main.pk)
        moderated = await in_thread(audio_moderated, live_meeting)
        assert set(moderated) == set(room.feeds.values())
        # Random, not derived from the site: nobody can work out another page's id.
        assert all(feed != s * 10 + 1 for s, feed in room.feeds.items())
        assert len(set(room.feeds.values())) == 3
        # The pages are told whose camera is which.
        state = await in_thread(lambda: build(LiveState.objects.get(meeting=live_meeting)))
        assert state["feeds"] == {str(s): f for s, f in room.feeds.items()}

    asyncio.run(in_room(live_meeting, org, scenario))


def test_floor_opens_a_sites_audio_at_the_sfu_and_the_chairs_mute_closes_it(
    live_meeting: Meeting, org: Org
) -> None:
    async def scenario(room: Room) -> None:
        a, b, main = room.feed(org.site_a.pk), room.feed(org.site_b.pk), room.feed(org.main.pk)
        # By default only the main source (HQ) is heard: branch sites were moderated as
        # they reported being published, before any page was told their feed.
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
    async def scenario(room: Room) -> None:
        a, b, main = room.feed(org.site_a.pk), room.feed(org.site_b.pk), room.feed(org.main.pk)
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


def test_a_publisher_under_an_id_not_issued_to_a_connected_page_is_kicked(
    live_meeting: Meeting, org: Org
) -> None:
    """Janus's room tokens do not bind a feed id: site B's page can join under an id of
    its choosing. The server keeps a publisher only under the ids it issued to connected
    pages, so the impostor is kicked at the next enforcement and never heard."""

    async def scenario() -> None:
        nonce = await in_thread(
            lambda: Invitation.objects.get(meeting=live_meeting, site=org.site_b).nonce
        )
        b = Actor(meeting_id=live_meeting.pk, site_id=org.site_b.pk, hq=False, link=nonce)
        _event, conn = await in_thread(services.site_connected, b)
        access = await in_thread(media_policy.access_for, b, "", conn)
        impostor = {**access, "feed": org.main.pk * 10 + 1}  # HQ's id in the old scheme
        async with JanusClient(
            access["janus_url"], token=access["core_token"], reconnect=False
        ) as client:
            publisher = await publish_as(client, impostor, "Điểm cầu chính")
            try:
                assert impostor["feed"] in await in_thread(audio_moderated, live_meeting)
                await in_thread(media_policy.enforce_audio, live_meeting.pk)
                assert impostor["feed"] not in await in_thread(audio_moderated, live_meeting)
            finally:
                await publisher.close()

    asyncio.run(scenario())


def test_a_muted_site_that_rejoins_is_muted_before_any_page_is_told_its_new_feed(
    live_meeting: Meeting, org: Org
) -> None:
    """Issue 11, item 5: a re-join gets fresh ids (the old publisher is kicked) and the
    new camera is named to the pages only after Janus holds its mute."""

    async def scenario(room: Room) -> None:
        await in_thread(media_policy.enforce_audio, live_meeting.pk)
        old = room.feed(org.site_a.pk)
        nonce = await in_thread(
            lambda: Invitation.objects.get(meeting=live_meeting, site=org.site_a).nonce
        )
        a = Actor(meeting_id=live_meeting.pk, site_id=org.site_a.pk, hq=False, link=nonce)
        _event, conn = await in_thread(services.site_connected, a)
        again = await in_thread(media_policy.access_for, a, "", conn)
        assert again["feed"] != old
        assert old not in await in_thread(audio_moderated, live_meeting)  # kicked
        client = JanusClient(again["janus_url"], token=again["core_token"], reconnect=False)
        await client.connect()
        try:
            rejoined = await publish_as(client, again, "Cao su Đồng Nai")
            try:

                def named() -> dict[str, int]:
                    return dict(build(LiveState.objects.get(meeting=live_meeting))["feeds"])

                # Janus has it, unmuted for now, and no page knows its id yet.
                assert (await in_thread(audio_moderated, live_meeting))[again["feed"]] is False
                assert str(org.site_a.pk) not in await in_thread(named)
                assert await in_thread(media_policy.published, a, conn)
                assert (await in_thread(audio_moderated, live_meeting))[again["feed"]] is True
                assert (await in_thread(named))[str(org.site_a.pk)] == again["feed"]
            finally:
                await rejoined.close()
        finally:
            await client.close()

    asyncio.run(in_room(live_meeting, org, scenario))
