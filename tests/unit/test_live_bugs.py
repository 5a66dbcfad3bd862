"""Regression tests for the three bugs of issue 10: what a client built from the events
differed from a fresh snapshot, or an ended meeting still accepted actions."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from diemcau.live import lifecycle, services
from diemcau.live import state as live_state
from diemcau.live.models import FloorRequest, FloorStatus, LiveState, Motion, RollCall
from diemcau.live.services import Actor, Event, Refused
from diemcau.meetings import services as meeting_services
from diemcau.meetings.models import Meeting
from diemcau.orgs.models import Site
from tests.conftest import Org

CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every event broadcast to the meeting's pages, in order."""
    events: list[Event] = []
    monkeypatch.setattr(services, "broadcast", events.append)
    return events


def site(live: Meeting, site_pk: int) -> Actor:
    return Actor(live.pk, site_pk, hq=False)


def fresh(meeting_id: int) -> dict[str, Any]:
    """What a page connecting now would get, built without the snapshot cache."""
    state = LiveState.objects.select_related("meeting").get(meeting_id=meeting_id)
    return live_state.build(state)


def test_a_roll_call_answer_during_a_per_delegate_vote_resends_the_vote(
    live: Meeting, org: Org, chair: Actor
) -> None:
    services.open_roll_call(chair)
    services.answer_roll_call(site(live, org.site_a.pk), 10)
    services.open_vote(chair, "Theo đại biểu", options=["Có", "Không"], counting="delegates")
    page = services.snapshot(live.pk)["state"]
    assert page["vote"]["result"]["eligible"] == 10

    event = services.answer_roll_call(site(live, org.site_b.pk), 10)

    page.update(event.sections)
    assert page["vote"]["result"]["eligible"] == 20
    assert page == fresh(live.pk)


def test_editing_the_invited_sites_of_a_live_meeting_is_announced(
    live: Meeting,
    org: Org,
    sent: list[Event],
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    before = services.snapshot(live.pk)  # cached, as for a page connecting now
    page = dict(before["state"])
    extra = Site.objects.create(code="CSPH", name="Cao su Phú Riềng", unit=org.corp)

    with django_capture_on_commit_callbacks(execute=True):
        meeting_services.save_meeting(live, sites={org.site_a, extra}, agenda=None, by=None)

    assert [e.seq for e in sent] == [before["seq"] + 1]
    page.update(sent[0].sections)
    codes = [s["code"] for s in page["sites"]]
    assert codes == ["CSDN", "CSPH", "HQ"]
    assert page == fresh(live.pk)
    after = services.snapshot(live.pk)
    assert after["seq"] == before["seq"] + 1 and after["state"] == page


def test_ending_a_meeting_closes_its_vote_floor_turn_and_roll_call(
    live: Meeting, org: Org, chair: Actor
) -> None:
    services.open_roll_call(chair)
    services.answer_roll_call(site(live, org.site_a.pk), 4)
    services.request_floor(site(live, org.site_b.pk), "Ý kiến")
    services.grant_floor(chair, site_id=org.site_a.pk)
    services.open_vote(chair, "Thông qua", options=["Có", "Không"])
    services.cast_vote(site(live, org.site_a.pk), choice="Có")

    lifecycle.end_meeting(live)

    motion = Motion.objects.get()
    assert motion.closed_at is not None
    assert motion.result is not None and motion.result["tally"] == {"Có": 1, "Không": 0}
    assert not RollCall.objects.filter(closed_at__isnull=True).exists()
    assert not FloorRequest.objects.filter(status=FloorStatus.GRANTED, ended_at__isnull=True)
    assert not FloorRequest.objects.filter(status=FloorStatus.WAITING).exists()
    state = fresh(live.pk)
    assert state["vote"]["open"] is False and state["floor"] is None
    assert state["queue"] == [] and state["roll_call"]["open"] is False


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda a, c: services.cast_vote(a, choice="Có"), id="cast_vote"),
        pytest.param(lambda a, c: services.send_chat(a, "Còn ai không?"), id="send_chat"),
        pytest.param(lambda a, c: services.send_chat(c, "Hết giờ"), id="send_chat-chair"),
        pytest.param(lambda a, c: services.set_main_source(c, a.site_id), id="set_main_source"),
        pytest.param(lambda a, c: services.announce(c, "Đã kết thúc"), id="announce"),
        pytest.param(lambda a, c: services.set_mute(c, a.site_id or 0, True), id="set_mute"),
    ],
)
def test_an_ended_meeting_refuses_every_action(
    live: Meeting, org: Org, chair: Actor, action: Callable[[Actor, Actor], Event]
) -> None:
    services.open_vote(chair, "Thông qua", options=["Có", "Không"])
    lifecycle.end_meeting(live)
    before = services.snapshot(live.pk)

    with pytest.raises(Refused) as refused:
        action(site(live, org.site_a.pk), chair)

    assert refused.value.code == "not_live"
    assert str(refused.value) == refused.value.message
    assert services.snapshot(live.pk) == before
