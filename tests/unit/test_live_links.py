"""The layers each site receives (issue 12): decisions of the policy, HQ's pin and a site's
weak-link mode become the `links` state section, events only when pages would see a change,
a record for the minutes' technical annex; a page's reports reach the policy and HQ.
Docs: docs/live.md, "Layer policy"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.live import media_policy, services
from diemcau.live.actions import BAD_VALUE, NOT_ALLOWED, NOT_INVITED
from diemcau.live.linkpolicy import Decision, Downlink, Report
from diemcau.live.models import Attendance, LinkChange, LiveState
from diemcau.live.services import Actor, Event, Refused
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.minutes import documents, selectors
from diemcau.orgs.models import Site
from tests.conftest import Org
from tests.unit.test_live_media_status import Pages, cookies, pages

__all__ = ["cookies", "pages"]  # fixtures used below

FROZEN = Downlink(kbps=480, loss=4.0, frozen_ms=1800, fps=2, audio_concealed=0.0)
GOOD = Downlink(kbps=1100, loss=0.0, frozen_ms=0, fps=30, audio_concealed=0.0)


def _decision(layer: str, reason: str = "loss") -> Decision:
    return Decision(layer=layer, reason=reason, kbps=480, loss=4.0, at=0.0)


@pytest.fixture(autouse=True)
def _no_trackers_from_before() -> None:
    """Ids come again after a transactional test: no tracker of an earlier test's site."""
    media_policy._trackers.clear()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    events: list[Event] = []
    monkeypatch.setattr(services, "broadcast", events.append)
    return events


@pytest.fixture
def site_a(live: Meeting, org: Org) -> Actor:
    return Actor(live.pk, org.site_a.pk, hq=False)


def _run(action: Callable[[], object]) -> None:
    with TestCase.captureOnCommitCallbacks(execute=True):
        action()


def _seq(meeting: Meeting) -> int:
    return LiveState.objects.get(meeting=meeting).seq


def _links(meeting: Meeting) -> dict[str, Any]:
    links: dict[str, Any] = services.snapshot(meeting.pk)["state"]["links"]
    return links


# --- decisions ----------------------------------------------------------------------------


def test_a_decision_is_one_links_event_with_the_layers_and_the_numbers(
    live: Meeting, site_a: Actor, sent: list[Event]
) -> None:
    _run(lambda: services.link_decided(site_a, _decision("medium")))
    (event,) = sent
    assert event.kind == "links" and set(event.sections) == {"links"}
    entry = event.sections["links"][str(site_a.site_id)]
    assert {k: v for k, v in entry.items() if k != "since"} == {
        "layer": "medium",
        "substream": 1,
        "temporal": 2,
        "video": True,
        "by": "auto",
        "reason": "loss",
        "kbps": 480,
        "loss": 4.0,
    }
    assert entry["since"].endswith("+07:00")  # Asia/Ho_Chi_Minh, as every time pages see
    (record,) = LinkChange.objects.filter(meeting=live)
    assert (record.site_id, record.layer, record.by, record.reason) == (
        site_a.site_id,
        "medium",
        "auto",
        "loss",
    )


def test_back_on_the_top_layer_the_site_leaves_the_section(
    live: Meeting, site_a: Actor, sent: list[Event]
) -> None:
    _run(lambda: services.link_decided(site_a, _decision("low")))
    _run(lambda: services.link_decided(site_a, _decision("high", "recovered")))
    assert sent[-1].sections == {"links": {}}
    assert LiveState.objects.get(meeting=live).links == {}
    assert list(LinkChange.objects.values_list("layer", "reason")) == [
        ("low", "loss"),
        ("high", "recovered"),
    ]


def test_a_decision_pages_cannot_see_moves_no_sequence_number(
    live: Meeting, site_a: Actor, sent: list[Event]
) -> None:
    services.set_weak_link(site_a, True)
    _run(lambda: services.link_decided(site_a, _decision("high_half_rate")))
    seq, events = _seq(live), len(sent)
    shown = _links(live)
    # Weak-link mode holds the site at low: the policy's step to medium is not seen.
    _run(lambda: services.link_decided(site_a, _decision("medium")))
    assert (_seq(live), len(sent), _links(live)) == (seq, events, shown)
    # Kept for when weak mode is turned off: the policy's choice is back at once.
    services.set_weak_link(site_a, False)
    assert _links(live)[str(site_a.site_id)]["layer"] == "medium"


def test_a_pinned_site_keeps_its_policy_choice_for_when_the_pin_is_lifted(
    live: Meeting, site_a: Actor, chair: Actor
) -> None:
    assert site_a.site_id is not None
    services.pin_link(chair, site_a.site_id, "audio")
    services.link_decided(site_a, _decision("low"))
    entry = _links(live)[str(site_a.site_id)]
    # HQ's tile still shows what the link does.
    assert (entry["layer"], entry["by"], entry["kbps"], entry["loss"]) == (
        "audio",
        "pinned",
        480,
        4.0,
    )
    services.pin_link(chair, site_a.site_id, None)
    assert _links(live)[str(site_a.site_id)]["layer"] == "low"


def test_a_report_that_changes_nothing_touches_no_database(
    live: Meeting, site_a: Actor, sent: list[Event], django_assert_num_queries: Any
) -> None:
    media_policy.forget_link(site_a)
    media_policy.link_report(site_a, Report(1.0, GOOD, 2000))  # a new tracker reads the record
    with django_assert_num_queries(0):
        for n in range(2, 30):
            media_policy.link_report(site_a, Report(2.0 * n, GOOD, 2000))
    assert sent == []


def test_reports_of_a_frozen_picture_step_the_site_down_and_pages_are_told(
    live: Meeting, site_a: Actor, sent: list[Event]
) -> None:
    media_policy.forget_link(site_a)
    _run(lambda: media_policy.link_report(site_a, Report(2.0, FROZEN, 2000)))
    (event,) = sent
    entry = event.sections["links"][str(site_a.site_id)]
    # 480 kbit/s arriving carries the low layer with headroom, not the rungs between.
    assert (entry["layer"], entry["reason"], entry["kbps"]) == ("low", "freeze", 480)


def test_a_new_connection_starts_from_the_layer_recorded_for_the_site(
    live: Meeting, site_a: Actor, sent: list[Event]
) -> None:
    _run(lambda: services.link_decided(site_a, _decision("low")))  # by another process
    media_policy.forget_link(site_a)
    for n in range(1, 5):  # 8 s of clean reports: not yet enough to step up
        _run(lambda n=n: media_policy.link_report(site_a, Report(2.0 * n, GOOD, 2000)))  # type: ignore[misc]
    assert len(sent) == 1 and _links(live)[str(site_a.site_id)]["layer"] == "low"
    _run(lambda: media_policy.link_report(site_a, Report(10.0, GOOD, 2000)))
    assert _links(live)[str(site_a.site_id)]["layer"] == "medium"


# --- pin and weak-link mode ---------------------------------------------------------------


def test_the_chair_pins_a_site_and_lifts_the_pin(
    live: Meeting, org: Org, chair: Actor, sent: list[Event]
) -> None:
    _run(lambda: services.pin_link(chair, org.site_b.pk, "audio"))
    entry = _links(live)[str(org.site_b.pk)]
    assert (entry["layer"], entry["video"], entry["by"], entry["reason"]) == (
        "audio",
        False,
        "pinned",
        "pinned",
    )
    _run(lambda: services.pin_link(chair, org.site_b.pk, None))
    assert _links(live) == {}
    assert [e.kind for e in sent] == ["links", "links"]
    assert list(LinkChange.objects.values_list("layer", "by")) == [
        ("audio", "pinned"),
        ("high", "auto"),
    ]


def test_a_site_pinned_to_high_is_shown_so_hq_sees_the_pin(
    live: Meeting, org: Org, chair: Actor
) -> None:
    services.pin_link(chair, org.site_b.pk, "high")
    assert _links(live)[str(org.site_b.pk)]["by"] == "pinned"


@pytest.mark.parametrize("layer", ["ultra", "", 2, True, ["low"]])
def test_a_pin_to_no_layer_of_the_ladder_is_refused_naming_it(
    live: Meeting, org: Org, chair: Actor, layer: Any
) -> None:
    with pytest.raises(Refused) as refused:
        services.pin_link(chair, org.site_b.pk, layer)
    assert refused.value.code == BAD_VALUE and repr(layer) in refused.value.message
    assert "'audio'" in refused.value.message  # and says what is allowed


def test_only_the_chair_pins_and_only_invited_sites(
    live: Meeting, org: Org, chair: Actor, site_a: Actor
) -> None:
    with pytest.raises(Refused) as refused:
        services.pin_link(site_a, org.site_b.pk, "low")
    assert refused.value.code == NOT_ALLOWED
    with pytest.raises(Refused) as refused:
        services.pin_link(Actor(live.pk, org.main.pk, hq=True), org.site_b.pk, "low")
    assert refused.value.code == NOT_ALLOWED  # an HQ console that may not run the meeting
    outside = Site.objects.create(code="NGOAI", name="Ngoài", unit=org.hq)
    with pytest.raises(Refused) as refused:
        services.pin_link(chair, outside.pk, "low")
    assert refused.value.code == NOT_INVITED


def test_weak_link_mode_caps_the_site_at_low_until_it_is_turned_off(
    live: Meeting, site_a: Actor
) -> None:
    services.set_weak_link(site_a, True)
    entry = _links(live)[str(site_a.site_id)]
    assert (entry["layer"], entry["by"], entry["reason"]) == ("low", "weak_mode", "weak_mode")
    services.link_decided(site_a, _decision("audio"))  # the policy goes lower: it stands
    assert _links(live)[str(site_a.site_id)]["layer"] == "audio"
    services.link_decided(site_a, _decision("medium", "recovered"))
    assert _links(live)[str(site_a.site_id)]["layer"] == "low"
    services.set_weak_link(site_a, False)
    assert _links(live)[str(site_a.site_id)]["layer"] == "medium"


def test_a_pin_wins_over_weak_link_mode(live: Meeting, site_a: Actor, chair: Actor) -> None:
    assert site_a.site_id is not None
    services.set_weak_link(site_a, True)
    services.pin_link(chair, site_a.site_id, "high")
    assert _links(live)[str(site_a.site_id)]["layer"] == "high"
    services.pin_link(chair, site_a.site_id, None)
    assert _links(live)[str(site_a.site_id)]["by"] == "weak_mode"


def test_a_delegates_phone_may_not_choose_weak_link_mode(live: Meeting, org: Org) -> None:
    with pytest.raises(Refused) as refused:
        services.set_weak_link(Actor(live.pk, org.site_a.pk, hq=False, voter="v"), True)
    assert refused.value.code == NOT_ALLOWED


def test_a_withdrawn_site_leaves_the_section(live: Meeting, org: Org, site_a: Actor) -> None:
    from diemcau.meetings import services as meeting_services

    services.link_decided(site_a, _decision("audio"))
    meeting_services.save_meeting(live, sites={org.site_b}, agenda=None, by=None)
    assert _links(live) == {}


# --- the record: the minutes' technical annex ----------------------------------------------


def test_the_annex_gives_time_degraded_and_audio_only_while_connected(
    live: Meeting, org: Org
) -> None:
    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=2)

    def at(minutes: int) -> Any:
        return t0 + timedelta(minutes=minutes)

    Meeting.objects.filter(pk=live.pk).update(status=MeetingStatus.ENDED, ended_at=at(60))
    live.refresh_from_db()
    # Site A: connected 0–15 and 25–60 (a drop in between).
    Attendance.objects.create(meeting=live, site=org.site_a, joined_at=at(0), left_at=at(15))
    Attendance.objects.create(meeting=live, site=org.site_a, joined_at=at(25), left_at=at(60))
    Attendance.objects.create(meeting=live, site=org.site_b, joined_at=at(0), left_at=at(60))
    for minute, layer in ((10, "low"), (20, "audio"), (30, "medium"), (40, "high")):
        LinkChange.objects.create(
            meeting=live, site=org.site_a, at=at(minute), layer=layer, by="auto", reason="loss"
        )
    # Site B was pinned high all along: never degraded, not listed.
    LinkChange.objects.create(
        meeting=live, site=org.site_b, at=at(5), layer="high", by="pinned", reason="pinned"
    )
    (row,) = selectors.link_quality(live)
    # low 10–20 (connected 10–15), audio 20–30 (connected 25–30), medium 30–40.
    assert row == {
        "code": org.site_a.code,
        "name": org.site_a.name,
        "degraded_seconds": (5 + 5 + 10) * 60,
        "audio_seconds": 5 * 60,
        "worst": "audio",
    }
    record = selectors.build(live)
    assert record["links"] == [row]
    blocks = documents.body(record, {})
    annex = [b.text for b in blocks].index(_("Technical annex: sites on a weak link"))
    table = blocks[annex + 1]
    assert table.rows == ((org.site_a.name, "0:20:00", "0:05:00", documents.layer_label("audio")),)


def test_minutes_without_degraded_sites_have_no_annex(live: Meeting) -> None:
    record = selectors.build(live)
    assert record["links"] == []
    headings = [b.text for b in documents.body(record, {}) if b.kind == "h"]
    assert _("Technical annex: sites on a weak link") not in headings
    del record["links"]  # a record finalised before there were any
    documents.body(record, {})


# --- through the control socket --------------------------------------------------------------


def _quality(down: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "quality", "rtt": 150, "loss": 0.5, "kbps": 480}
    if down is not None:
        message |= {"down": down, "interval_ms": 2000}
    return message


FROZEN_REPORT = {
    "kbps": 480,
    "available": None,
    "loss": 4,
    "jitter": 30,
    "fps": 2,
    "frozen_ms": 1800,
    "audio_concealed": 0.004,
}


@pytest.mark.django_db(transaction=True)
async def test_hq_gets_the_downlink_numbers_and_sees_the_decision(pages: Pages) -> None:
    hq = await pages.connect("hq", "chair")
    site = await pages.connect("site", "a")
    await site.send(_quality({**FROZEN_REPORT, "fps": "x", "jitter": -3}))
    relayed = await hq.next_of("quality")
    assert relayed["site"] == pages.site_a.pk
    assert relayed["down"] == {
        "kbps": 480.0,
        "available": None,
        "loss": 4.0,
        "jitter": None,  # bad numbers are null, the rest stands
        "fps": None,
        "frozen_ms": 1800.0,
        "audio_concealed": 0.004,
    }
    assert relayed["interval_ms"] == 2000
    while True:
        event = await hq.next_of("event")
        if event["kind"] == "links":
            break
    entry = event["state"]["links"][str(pages.site_a.pk)]
    assert (entry["layer"], entry["by"], entry["reason"], entry["loss"]) == (
        "low",
        "auto",
        "freeze",
        4.0,
    )
    # The site's own page is told too: it asks Janus for the layers.
    assert any(
        m.get("kind") == "links" for m in await site.received_until_quiet() if m["type"] == "event"
    )


@pytest.mark.django_db(transaction=True)
async def test_a_report_without_downlink_part_or_from_hq_decides_nothing(pages: Pages) -> None:
    hq = await pages.connect("hq", "chair")
    site = await pages.connect("site", "a")
    await site.send(_quality(None))
    await hq.send(_quality(FROZEN_REPORT))
    first, second = await hq.next_of("quality"), await hq.next_of("quality")
    down = {m["site"]: m["down"] for m in (first, second)}
    # Both relayed; HQ's numbers are shown, not acted on (several consoles act for HQ).
    assert down[pages.site_a.pk] is None and down[pages.meeting.main_site_id] is not None
    seen = await hq.received_until_quiet()
    assert [m for m in seen if m["type"] == "event" and m["kind"] == "links"] == []


@pytest.mark.django_db(transaction=True)
async def test_pin_and_weak_link_mode_over_the_socket(pages: Pages) -> None:
    hq = await pages.connect("hq", "chair")
    site = await pages.connect("site", "a")
    await site.send({"type": "link.weak", "ref": 1, "on": True})
    assert (await site.next_of("ok"))["ref"] == 1
    await hq.send({"type": "link.pin", "ref": 2, "site": pages.site_a.pk, "layer": "audio"})
    assert (await hq.next_of("ok"))["ref"] == 2
    await site.send({"type": "link.pin", "ref": 3, "site": pages.site_a.pk, "layer": "high"})
    refused = await site.next_of("error")
    assert (refused["ref"], refused["code"]) == (3, "not_allowed")
    await site.send({"type": "link.weak", "ref": 4, "on": "yes"})
    refused = await site.next_of("error")
    assert (refused["ref"], refused["code"]) == (4, "bad_value")
    await hq.send({"type": "snapshot"})
    state = (await hq.next_of("snapshot"))["state"]
    assert state["links"][str(pages.site_a.pk)]["layer"] == "audio"
