"""Random sequences of actions by random actors (chair, HQ console, site pages, delegates'
phones, a site that is not invited) never make a page drift from a fresh snapshot, and the
meeting's rules hold after every step. Docs: docs/live.md."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from diemcau.live import lifecycle, linkpolicy, services, votingcodes
from diemcau.live.models import (
    Counting,
    FloorRequest,
    FloorStatus,
    HeldRollCallAnswer,
    LiveState,
    Motion,
    RollCallAnswer,
)
from diemcau.live.services import Actor, Event, Refused
from diemcau.meetings import services as meeting_services
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.orgs.models import Site, SiteKind, Unit
from tests.unit.test_live_drift import Page, fresh, wire

_worlds = itertools.count(1)

ACTOR = st.sampled_from(
    ["chair", "hq", "a", "b", "c", "phone_a1", "phone_a2", "phone_a3", "phone_b", "impostor"]
)
SITE = st.sampled_from(["main", "a", "b", "c", "outside"])
CHOICE = st.sampled_from(["Có", "Không", "Khác"])
REASONS = ["loss", "freeze", "bandwidth", "recovered"]


class LiveMeetingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        n = next(_worlds)
        unit = Unit.objects.create(name=f"Đơn vị {n}")
        self.site: dict[str, Site] = {
            "main": Site.objects.create(code=f"HQ{n}", name="HQ", unit=unit, kind=SiteKind.MAIN),
            **{
                key: Site.objects.create(code=f"{key.upper()}{n}", name=key, unit=unit)
                for key in ("a", "b", "c", "outside")
            },
        }
        start = timezone.now()
        self.meeting = meeting_services.save_meeting(
            Meeting(
                title=f"Họp {n}",
                start=start,
                end=start + timedelta(hours=1),
                main_site=self.site["main"],
            ),
            sites={self.site["a"], self.site["b"], self.site["c"]},
            agenda=None,
            by=None,
        )
        Meeting.objects.filter(pk=self.meeting.pk).update(status=MeetingStatus.LIVE)
        self.meeting.refresh_from_db()
        m, s = self.meeting.pk, self.site
        self.actors = {
            "chair": Actor(m, s["main"].pk, hq=True, chair=True),
            "hq": Actor(m, s["main"].pk, hq=True),
            "a": Actor(m, s["a"].pk, hq=False),
            "b": Actor(m, s["b"].pk, hq=False),
            "c": Actor(m, s["c"].pk, hq=False),
            "phone_a1": Actor(m, s["a"].pk, hq=False, voter="a1"),
            "phone_a2": Actor(m, s["a"].pk, hq=False, voter="a2"),
            # No voting code until code no. 1 of site A gets a new one (a lost phone).
            "phone_a3": Actor(m, s["a"].pk, hq=False, voter="a3"),
            "phone_b": Actor(m, s["b"].pk, hq=False, voter="b1"),
            "impostor": Actor(m, s["outside"].pk, hq=False),
        }
        # Each phone but the third enters a voting code of its site (issue 11, item 6).
        for phone, key, number in (("phone_a1", "a", 1), ("phone_a2", "a", 2), ("phone_b", "b", 1)):
            self.claim(phone, key, number)
        # Roll-call answers the chair confirmed: (roll call, site, delegates).
        self.approved: set[tuple[int, int, int]] = set()
        self.rows: list[tuple[Actor, int]] = []
        self.sent: list[Event] = []
        self.pages = [Page(m)]
        self.pages[0].load()

    # --- how every step is done and checked ------------------------------------------

    def do(self, action: Callable[[], object]) -> None:
        before = fresh(self.meeting.pk)
        start = len(self.sent)
        services.broadcast = self.sent.append  # type: ignore[assignment]
        try:
            with TestCase.captureOnCommitCallbacks(execute=True):
                action()
        except Refused as refused:
            assert refused.code and str(refused) == refused.message
            assert len(self.sent) == start, "a refused action broadcast an event"
            assert fresh(self.meeting.pk) == before, "a refused action changed the state"
            return
        finally:
            services.broadcast = _broadcast
        events = self.sent[start:]
        assert [e.seq for e in events] == list(range(before[0] + 1, before[0] + 1 + len(events)))
        for event in events:
            for page in self.pages:
                page.receive(wire(event))

    def who(self, name: str) -> Actor:
        return self.actors[name]

    def claim(self, phone: str, key: str, number: int) -> None:
        invitation = self.meeting.invitations.select_related("meeting", "site").get(
            site=self.site[key]
        )
        card = votingcodes.codes_for(invitation)[number - 1]
        votingcodes.claim(invitation, card.text, self.who(phone).voter)

    def site_id(self, key: str) -> int:
        return self.site[key].pk

    # --- rules -------------------------------------------------------------------------

    @rule()
    def a_page_connects_late(self) -> None:
        page = Page(self.meeting.pk)
        page.load()
        self.pages.append(page)

    @rule(who=st.sampled_from(["hq", "a", "b", "c"]))
    def connect(self, who: str) -> None:
        def go() -> None:
            self.rows.append((self.who(who), services.site_connected(self.who(who))[1]))

        self.do(go)

    @rule(data=st.data(), dropped=st.booleans())
    def disconnect(self, data: st.DataObject, dropped: bool) -> None:
        if self.rows:
            actor, row = self.rows.pop(data.draw(st.integers(0, len(self.rows) - 1)))
            self.do(lambda: services.site_disconnected(actor, row, dropped=dropped))

    @rule(who=ACTOR)
    def request_floor(self, who: str) -> None:
        self.do(lambda: services.request_floor(self.who(who), "Ý kiến"))

    @rule(who=ACTOR)
    def cancel_floor(self, who: str) -> None:
        self.do(lambda: services.cancel_floor_request(self.who(who)))

    @rule(who=ACTOR, data=st.data())
    def grant_request(self, who: str, data: st.DataObject) -> None:
        ids = list(FloorRequest.objects.filter(meeting=self.meeting).values_list("pk", flat=True))
        request = data.draw(st.sampled_from([*ids, 0]))
        self.do(lambda: services.grant_floor(self.who(who), request_id=request))

    @rule(who=ACTOR, site=SITE)
    def grant_site(self, who: str, site: str) -> None:
        self.do(lambda: services.grant_floor(self.who(who), site_id=self.site_id(site)))

    @rule(who=ACTOR, data=st.data())
    def decline(self, who: str, data: st.DataObject) -> None:
        ids = list(FloorRequest.objects.filter(meeting=self.meeting).values_list("pk", flat=True))
        request = data.draw(st.sampled_from([*ids, 0]))
        self.do(lambda: services.decline_floor(self.who(who), request))

    @rule(who=ACTOR)
    def take_back(self, who: str) -> None:
        self.do(lambda: services.take_back_floor(self.who(who)))

    @rule(who=ACTOR, site=SITE, mute=st.booleans())
    def mute(self, who: str, site: str, mute: bool) -> None:
        self.do(lambda: services.set_mute(self.who(who), self.site_id(site), mute))

    @rule(who=ACTOR)
    def mute_all(self, who: str) -> None:
        self.do(lambda: services.mute_all(self.who(who)))

    @rule(who=ACTOR, site=st.one_of(st.none(), SITE))
    def main_source(self, who: str, site: str | None) -> None:
        target = None if site is None else self.site_id(site)
        self.do(lambda: services.set_main_source(self.who(who), target))

    @rule(who=ACTOR, sharing=st.booleans())
    def screen(self, who: str, sharing: bool) -> None:
        self.do(lambda: services.set_screen_share(self.who(who), sharing))

    @rule(who=ACTOR)
    def open_roll_call(self, who: str) -> None:
        self.do(lambda: services.open_roll_call(self.who(who)))

    @rule(who=ACTOR)
    def close_roll_call(self, who: str) -> None:
        self.do(lambda: services.close_roll_call(self.who(who)))

    # Sites expect no delegates here: more than 5 is held for the chair (roll_call_limit).
    @rule(who=ACTOR, delegates=st.one_of(st.integers(-1, 12), st.just("5"), st.just(10_000)))
    def answer_roll_call(self, who: str, delegates: Any) -> None:
        self.do(lambda: services.answer_roll_call(self.who(who), delegates))

    @rule(who=ACTOR, site=SITE, accept=st.booleans())
    def confirm_roll_call(self, who: str, site: str, accept: bool) -> None:
        site_id = self.site_id(site)
        held = HeldRollCallAnswer.objects.filter(
            roll_call__meeting=self.meeting, site_id=site_id
        ).first()
        self.do(lambda: services.confirm_roll_call(self.who(who), site_id, accept))
        if held is not None and not HeldRollCallAnswer.objects.filter(pk=held.pk).exists():
            if accept:
                self.approved.add((held.roll_call_id, site_id, held.delegates_present))

    @rule(revoke=st.booleans())
    def a_phone_is_lost(self, revoke: bool) -> None:
        """Code no. 1 of site A is withdrawn, or given a new code that a third phone enters:
        the same voter, whatever phone."""
        invitation = (
            self.meeting.invitations.select_related("meeting", "site")
            .filter(site=self.site["a"])
            .first()
        )
        if invitation is None or self.meeting.status != MeetingStatus.LIVE:
            return
        if revoke:
            votingcodes.revoke(invitation, 1)
        else:
            votingcodes.reissue(invitation, 1)
            self.claim("phone_a3", "a", 1)

    @rule(who=ACTOR, text=st.sampled_from(["", "Nghỉ giải lao", "x" * 2001]))
    def announce(self, who: str, text: str) -> None:
        self.do(lambda: services.announce(self.who(who), text))

    @rule(who=ACTOR, text=st.sampled_from(["", "Rõ", "x" * 2001]))
    def chat(self, who: str, text: str) -> None:
        self.do(lambda: services.send_chat(self.who(who), text))

    @rule(who=ACTOR, counting=st.sampled_from(Counting.values))
    def open_vote(self, who: str, counting: str) -> None:
        self.do(
            lambda: services.open_vote(
                self.who(who), "Thông qua", options=["Có", "Không"], counting=counting
            )
        )

    @rule(a=st.integers(0, 12), b=st.sampled_from([1, 10_000]))
    def roll_call_then_an_individual_vote(self, a: int, b: int) -> None:
        """What a real meeting does before delegates vote from their phones; a site's
        answer far above its expected delegates waits for the chair meanwhile."""
        chair = self.who("chair")
        self.do(lambda: services.open_roll_call(chair))
        self.do(lambda: services.answer_roll_call(self.who("a"), a))
        self.do(lambda: services.answer_roll_call(self.who("b"), b))
        self.do(
            lambda: services.open_vote(
                chair, "Bầu", options=["Có", "Không"], counting=Counting.INDIVIDUAL
            )
        )
        self.do(lambda: services.cast_vote(self.who("phone_a1"), choice="Có"))

    @rule(phone=st.sampled_from(["phone_a1", "phone_a2", "phone_a3", "phone_b"]), choice=CHOICE)
    def a_phone_votes(self, phone: str, choice: str) -> None:
        self.do(lambda: services.cast_vote(self.who(phone), choice=choice))

    @rule(who=ACTOR, choice=CHOICE, yes=st.integers(0, 8), no=st.integers(0, 8))
    def cast_vote(self, who: str, choice: str, yes: int, no: int) -> None:
        counts = {"Có": yes, "Không": no}
        self.do(lambda: services.cast_vote(self.who(who), choice=choice, counts=counts))

    @rule(who=ACTOR)
    def close_vote(self, who: str) -> None:
        self.do(lambda: services.close_vote(self.who(who)))

    # Issue 12: the layers each site receives, by the policy, HQ's pin, weak-link mode.
    @rule(who=ACTOR, layer=st.sampled_from(linkpolicy.LADDER), reason=st.sampled_from(REASONS))
    def link_decided(self, who: str, layer: str, reason: str) -> None:
        decision = linkpolicy.Decision(layer=layer, reason=reason, kbps=300, loss=6.0, at=0.0)
        self.do(lambda: services.link_decided(self.who(who), decision))

    @rule(who=ACTOR, site=SITE, layer=st.sampled_from([*linkpolicy.LADDER, None, "ultra", 2]))
    def pin_link(self, who: str, site: str, layer: Any) -> None:
        self.do(lambda: services.pin_link(self.who(who), self.site_id(site), layer))

    @rule(who=ACTOR, on=st.booleans())
    def weak_link(self, who: str, on: bool) -> None:
        self.do(lambda: services.set_weak_link(self.who(who), on))

    @rule(keep=st.sets(st.sampled_from(["a", "b", "c"])))
    def edit_invited_sites(self, keep: set[str]) -> None:
        if self.meeting.status != MeetingStatus.LIVE:
            return

        def go() -> None:
            meeting = Meeting.objects.get(pk=self.meeting.pk)
            meeting_services.save_meeting(
                meeting, sites={self.site[k] for k in keep}, agenda=None, by=None
            )

        self.do(go)

    @rule()
    def end(self) -> None:
        if self.meeting.status == MeetingStatus.LIVE:
            self.do(lambda: lifecycle.end_meeting(self.meeting))
            self.meeting.refresh_from_db()

    # --- what must hold after every step -----------------------------------------------

    @invariant()
    def every_page_equals_a_fresh_snapshot(self) -> None:
        seq, state = fresh(self.meeting.pk)
        for page in self.pages:
            assert (page.seq, page.state) == (seq, state)
        assert services.snapshot(self.meeting.pk)["state"] == state

    @invariant()
    def links_follow_the_overrides(self) -> None:
        """A pin wins, weak mode caps at low, the top layer by the policy is no entry, and
        every entry is an invited site's."""
        links = fresh(self.meeting.pk)[1]["links"]
        invited = {str(s) for s in self.meeting.invitations.values_list("site_id", flat=True)}
        stored = LiveState.objects.get(meeting=self.meeting).links
        for site, entry in links.items():
            assert site in invited or self.meeting.status != MeetingStatus.LIVE
            mine = stored[site]
            if mine.get("pin"):
                assert (entry["by"], entry["layer"]) == ("pinned", mine["pin"]["layer"])
            elif mine.get("weak"):
                assert entry["by"] == "weak_mode"
                assert linkpolicy.rung(entry["layer"]) >= linkpolicy.rung("low")
            else:
                assert entry["by"] == "auto" and entry["layer"] != "high"
            shape = linkpolicy.LAYERS[entry["layer"]]
            assert (entry["substream"], entry["temporal"], entry["video"]) == (
                shape.substream,
                shape.temporal,
                shape.video,
            )

    @invariant()
    def at_most_one_floor_holder(self) -> None:
        turns = FloorRequest.objects.filter(
            meeting=self.meeting, status=FloorStatus.GRANTED, ended_at__isnull=True
        )
        assert turns.count() <= 1
        floor = fresh(self.meeting.pk)[1]["floor"]
        assert (floor["site"] if floor else None) == (turns[0].site_id if turns else None)

    @invariant()
    def queue_in_request_order(self) -> None:
        queue = fresh(self.meeting.pk)[1]["queue"]
        assert [(q["at"], q["id"]) for q in queue] == sorted((q["at"], q["id"]) for q in queue)
        assert len({q["site"] for q in queue}) == len(queue)  # one waiting request per site

    @invariant()
    def no_unconfirmed_answer_is_counted(self) -> None:
        roll = fresh(self.meeting.pk)[1]["roll_call"]
        if roll is None:
            return
        assert roll["totals"]["delegates_present"] == sum(roll["answers"].values())
        assert roll["totals"]["sites_present"] == len(roll["answers"])
        for answer in RollCallAnswer.objects.filter(roll_call_id=roll["id"]).select_related("site"):
            if answer.delegates_present > services.roll_call_limit(answer.site.expected_delegates):
                assert (roll["id"], answer.site_id, answer.delegates_present) in self.approved

    @invariant()
    def one_ballot_per_voting_code(self) -> None:
        for motion in Motion.objects.filter(meeting=self.meeting, counting=Counting.INDIVIDUAL):
            voters = list(motion.ballots.values_list("voter", flat=True))
            assert all(voters) and len(set(voters)) == len(voters)
            # Site A has codes no. 1 and 2 in use here: never more ballots, whatever phone.
            assert motion.ballots.filter(site=self.site["a"]).count() <= 2

    @invariant()
    def no_site_counted_above_its_delegates(self) -> None:
        motion = Motion.objects.filter(meeting=self.meeting, closed_at__isnull=True).first()
        if motion is None or motion.counting == Counting.PER_SITE:
            return
        present = services.delegates_present_by_site(self.meeting.pk)
        cast: dict[int, int] = {}
        for ballot in motion.ballots.all():
            cast[ballot.site_id] = cast.get(ballot.site_id, 0) + sum(ballot.counts.values())
        for site_id, n in cast.items():
            assert n <= present.get(site_id, 0), (site_id, n, present)


_broadcast = services.broadcast


@pytest.mark.django_db
def test_random_actions_by_random_actors_keep_pages_in_step_and_rules_intact() -> None:
    run_state_machine_as_test(
        LiveMeetingMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
