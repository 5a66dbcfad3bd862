"""No action can make a page drift from the server (the idea of Zulip's
`test_events.verify_action`): for every action in `live.actions.ACTIONS`, the state a
connected page builds from the events it receives equals a fresh snapshot.
Docs: docs/live.md ("Sequence numbers and reconnect")."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import TestCase

from diemcau.accounts.models import Role
from diemcau.live import lifecycle, linkpolicy, services
from diemcau.live import state as live_state
from diemcau.live.actions import ACTIONS, NOT_LIVE, Who
from diemcau.live.models import FloorRequest, LiveState, Motion
from diemcau.live.services import Actor, Event, Refused
from diemcau.meetings import services as meeting_services
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.orgs.models import Site
from tests.conftest import MakeUser, Org


@dataclass
class Page:
    """A page's copy of the state, kept as static/live/control.js keeps it."""

    meeting_id: int
    seq: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    snapshots: int = 0

    def load(self) -> None:
        snap = services.snapshot(self.meeting_id)
        self.seq, self.state = snap["seq"], copy.deepcopy(snap["state"])
        self.snapshots += 1

    def receive(self, event: dict[str, Any]) -> None:
        if event["seq"] <= self.seq:
            return  # the snapshot already holds it
        if event["seq"] != self.seq + 1:
            self.load()  # a gap: start again from a snapshot
            return
        self.seq = event["seq"]
        self.state.update(copy.deepcopy(event["state"]))
        if "message" in event:
            self.state["chat"] = [*self.state["chat"], event["message"]][-50:]


def fresh(meeting_id: int) -> tuple[int, dict[str, Any]]:
    """The state a page connecting now would get, built without the snapshot cache."""
    state = LiveState.objects.select_related("meeting").get(meeting_id=meeting_id)
    return state.seq, live_state.build(state)


def wire(event: Event) -> dict[str, Any]:
    """The event as a page receives it (through JSON, as over the WebSocket)."""
    import json

    message: dict[str, Any] = json.loads(event.message())
    return message


@dataclass
class World:
    meeting: Meeting
    org: Org
    chair: Actor
    hq: Actor  # an HQ console whose user may not run the meeting
    a: Actor
    b: Actor
    phone: Actor  # a delegate's phone at site A
    pages: list[Page] = field(default_factory=list)
    sent: list[Event] = field(default_factory=list)
    rows: dict[int, int] = field(default_factory=dict)  # site id -> attendance row

    def run(self, action: Callable[[], object]) -> list[Event]:
        """Do an action as the consumer does, then deliver what was broadcast to every page."""
        start = len(self.sent)
        with TestCase.captureOnCommitCallbacks(execute=True):
            action()
        events = self.sent[start:]
        for event in events:
            for page in self.pages:
                page.receive(wire(event))
        return events

    def connect_page(self) -> Page:
        page = Page(self.meeting.pk)
        page.load()
        self.pages.append(page)
        return page


@pytest.fixture
def world(
    meeting: Meeting, org: Org, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> World:
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.LIVE)
    meeting.refresh_from_db()
    w = World(
        meeting=meeting,
        org=org,
        chair=Actor(meeting.pk, org.main.pk, hq=True, user=make_user(Role.CHAIR), chair=True),
        hq=Actor(meeting.pk, org.main.pk, hq=True),
        a=Actor(meeting.pk, org.site_a.pk, hq=False),
        b=Actor(meeting.pk, org.site_b.pk, hq=False),
        phone=Actor(meeting.pk, org.site_a.pk, hq=False, voter="phone-1"),
    )
    monkeypatch.setattr(services, "broadcast", w.sent.append)
    return w


def _connect(w: World, actor: Actor) -> None:
    assert actor.site_id is not None
    w.rows[actor.site_id] = services.site_connected(actor)[1]


def _waiting(w: World) -> int:
    """Site B's request (waiting, unless the meeting ended since)."""
    return FloorRequest.objects.filter(meeting=w.meeting, site=w.org.site_b).latest("pk").pk


def _per_delegate_vote(w: World) -> None:
    services.open_roll_call(w.chair)
    services.answer_roll_call(w.a, 10)
    services.open_vote(w.chair, "Theo đại biểu", options=["Có", "Không"], counting="delegates")
    services.cast_vote(w.a, counts={"Có": 6, "Không": 1})


def _busy(w: World) -> None:
    """A meeting in full swing: a turn, a queue, a roll call, a vote, a screen, mics."""
    _connect(w, w.a)
    _connect(w, w.b)
    services.request_floor(w.b, "Hỏi")
    services.grant_floor(w.chair, site_id=w.a.site_id)
    services.set_screen_share(w.a, True)
    services.set_mute(w.chair, w.org.site_b.pk, False)
    _per_delegate_vote(w)
    services.send_chat(w.b, "Rõ")
    # Issue 12: site A on a weak link (the policy's choice), site B in weak-link mode.
    services.link_decided(w.a, _decision("medium"))
    services.set_weak_link(w.b, True)


def _decision(layer: str, reason: str = "loss") -> linkpolicy.Decision:
    return linkpolicy.Decision(layer=layer, reason=reason, kbps=480, loss=6.0, at=0.0)


def _busy_and_hq_answered(w: World) -> None:
    _busy(w)
    services.answer_roll_call(w.hq, 3)


def _busy_and_b_answered_far_above(w: World) -> None:
    _busy(w)
    services.answer_roll_call(w.b, 10_000)  # site B expects 25: held for the chair


def _nothing(w: World) -> None:
    pass


def _issued(w: World) -> services.Feeds:
    """Site A's page asked for media: fresh ids for its connection."""
    assert w.a.site_id is not None
    return services.issue_feeds(w.a, w.rows[w.a.site_id])


def _busy_and_a_issued(w: World) -> None:
    _busy(w)
    _issued(w)


def _busy_and_a_published(w: World) -> None:
    _busy(w)
    feeds = _issued(w)
    services.feeds_published(w.a, w.rows[w.org.site_a.pk], {feeds.camera})


# For every action: what makes it possible, and the action itself.
SCENARIOS: dict[str, tuple[Callable[[World], object], Callable[[World], object]]] = {
    "presence.connect": (_nothing, lambda w: _connect(w, w.a)),
    "presence.disconnect": (
        _busy,
        lambda w: services.site_disconnected(w.a, w.rows[w.org.site_a.pk], dropped=True),
    ),
    # Issue 11, item 5: a re-join's fresh ids hide the old camera until the new is published.
    "media.access": (_busy_and_a_published, _issued),
    "media.published": (
        _busy_and_a_issued,
        lambda w: services.feeds_published(
            w.a,
            w.rows[w.org.site_a.pk],
            set(services.feeds_of(w.meeting.pk, w.org.site_a.pk)),
        ),
    ),
    # Issue 12: the layers each site receives (live/linkpolicy.py).
    "link.auto": (_busy, lambda w: services.link_decided(w.a, _decision("high", "recovered"))),
    "link.pin": (_busy, lambda w: services.pin_link(w.chair, w.org.site_b.pk, "audio")),
    "link.weak": (_busy, lambda w: services.set_weak_link(w.b, False)),
    "floor.request": (_nothing, lambda w: services.request_floor(w.a, "Ý kiến")),
    "floor.cancel": (
        lambda w: services.request_floor(w.a),
        lambda w: services.cancel_floor_request(w.a),
    ),
    "floor.grant": (
        _busy,
        lambda w: services.grant_floor(w.chair, request_id=_waiting(w)),
    ),
    "floor.decline": (_busy, lambda w: services.decline_floor(w.chair, _waiting(w))),
    "floor.take_back": (_busy, lambda w: services.take_back_floor(w.chair)),
    "mute": (_busy, lambda w: services.set_mute(w.chair, w.org.site_a.pk, True)),
    "mute.all": (_busy, lambda w: services.mute_all(w.chair)),
    "main_source.set": (_busy, lambda w: services.set_main_source(w.chair, w.org.site_a.pk)),
    "screen.set": (_busy, lambda w: services.set_screen_share(w.chair, True)),
    "roll_call.open": (_busy, lambda w: services.open_roll_call(w.chair)),
    "roll_call.close": (_busy, lambda w: services.close_roll_call(w.chair)),
    # Issue 10, bug 1: the vote's `eligible` moves with the roll call.
    "roll_call.answer": (_busy, lambda w: services.answer_roll_call(w.b, 9)),
    # Issue 11, item 6: a held answer, once confirmed, counts (totals, the vote's eligible).
    "roll_call.confirm": (
        lambda w: _busy_and_b_answered_far_above(w),
        lambda w: services.confirm_roll_call(w.chair, w.org.site_b.pk, True),
    ),
    "announce": (_busy, lambda w: services.announce(w.chair, "Nghỉ giải lao")),
    "chat.send": (_busy, lambda w: services.send_chat(w.a, "Xin chào")),
    "vote.open": (
        lambda w: services.open_roll_call(w.chair),
        lambda w: services.open_vote(w.chair, "Thông qua"),
    ),
    "vote.cast": (
        lambda w: _busy_and_hq_answered(w),
        lambda w: services.cast_vote(w.hq, counts={"Có": 2, "Không": 1}),
    ),
    "vote.close": (_busy, lambda w: services.close_vote(w.chair)),
    # Issue 10, bug 3: ending closes the vote, the turn, the queue and the roll call.
    "meeting.status": (_busy, lambda w: lifecycle.end_meeting(w.meeting)),
    # Issue 10, bug 2: editing the invited sites is announced.
    "meeting.edit": (
        _busy,
        lambda w: meeting_services.save_meeting(
            w.meeting,
            sites={w.org.site_b, Site.objects.create(code="CSPR", name="Phú Riềng", unit=w.org.hq)},
            agenda=None,
            by=None,
        ),
    ),
}


def test_every_action_in_the_table_has_a_drift_scenario() -> None:
    assert set(SCENARIOS) == set(ACTIONS)


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_no_action_makes_a_page_drift_from_a_fresh_snapshot(world: World, name: str) -> None:
    setup, act = SCENARIOS[name]
    early = world.connect_page()  # open since before anything happened
    world.run(lambda: setup(world))
    late = world.connect_page()  # connected just before the action
    seq_before = fresh(world.meeting.pk)[0]

    events = world.run(lambda: act(world))

    assert [e.seq for e in events] == [seq_before + 1]
    assert events[0].kind == ACTIONS[name].kind
    seq, state = fresh(world.meeting.pk)
    for page in (early, late):
        assert page.seq == seq
        assert page.state == state
        assert page.snapshots == 1  # followed the events, never had to start again
    assert services.snapshot(world.meeting.pk) == {"type": "snapshot", "seq": seq, "state": state}


def test_an_event_carries_only_the_sections_that_changed(world: World) -> None:
    world.run(lambda: _busy(world))
    (event,) = world.run(lambda: services.set_mute(world.chair, world.org.site_a.pk, True))
    assert set(event.sections) == {"mics"}
    (event,) = world.run(lambda: services.send_chat(world.b, "Rõ"))
    assert event.sections == {} and event.extra["message"]["text"] == "Rõ"


# Every action a page may ask for is refused once the meeting has ended.
REQUESTS = sorted(
    name
    for name, action in ACTIONS.items()
    if MeetingStatus.ENDED not in action.statuses and Who.SERVER not in action.who
)


@pytest.mark.parametrize("name", REQUESTS)
def test_every_request_is_refused_after_the_meeting_ended(world: World, name: str) -> None:
    setup, act = SCENARIOS[name]
    world.run(lambda: setup(world))
    world.run(lambda: lifecycle.end_meeting(world.meeting))
    before = fresh(world.meeting.pk)

    with pytest.raises(Refused) as refused:
        world.run(lambda: act(world))

    assert refused.value.code == NOT_LIVE
    assert fresh(world.meeting.pk) == before
    assert not Motion.objects.filter(meeting=world.meeting, closed_at__isnull=True).exists()
