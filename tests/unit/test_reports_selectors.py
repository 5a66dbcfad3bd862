"""Savings and attendance from the meeting record, and who may see which report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from diemcau.accounts.models import Role
from diemcau.live.models import Attendance, RollCall, RollCallAnswer
from diemcau.meetings.models import Invitation, Meeting, MeetingStatus
from diemcau.orgs.models import Site
from diemcau.reports import selectors as services
from diemcau.reports.models import MeetingTravel, SiteTravel, TravelRates
from diemcau.reports.savings import TravelMode
from tests.conftest import MakeUser, Org


@dataclass
class Held:
    meeting: Meeting
    far: Site
    laos: Site


def _held(org: Org, start: datetime, title: str = "Hội nghị thông báo nhanh") -> Meeting:
    meeting = Meeting.objects.create(
        title=title,
        start=start,
        end=start + timedelta(hours=2),
        main_site=org.main,
        status=MeetingStatus.ENDED,
    )
    return meeting


@pytest.fixture
def held(org: Org) -> Held:
    return make_held(org)


def make_held(org: Org) -> Held:
    """A meeting ended in March 2026 that matches the hand-computed cases of
    test_reports_savings: CSDN 40 km by road with 30 delegates, Hà Nội flying 1.137 km
    with 10, Laos 700 km with 20, CSDT 80 km present without a roll-call answer (25)."""
    org.main.latitude, org.main.longitude = Decimal("10.779"), Decimal("106.688")
    org.main.save()
    far = Site.objects.create(code="CSHN", name="Cao su Hà Nội", unit=org.hq, expected_delegates=12)
    laos = Site.objects.create(
        code="CSVL", name="Cao su Việt Lào", unit=org.hq, country="LA", expected_delegates=20
    )
    SiteTravel.objects.create(site=org.site_a, road_km=40)
    SiteTravel.objects.create(site=org.site_b, road_km=80)
    SiteTravel.objects.create(site=far, road_km=1478, mode=TravelMode.FLIGHT)
    SiteTravel.objects.create(site=laos, road_km=700)
    start = timezone.make_aware(datetime(2026, 3, 10, 8, 0))
    meeting = _held(org, start)
    for site in (org.main, org.site_a, org.site_b, far, laos):
        Invitation.objects.create(meeting=meeting, site=site)
        Attendance.objects.create(
            meeting=meeting, site=site, joined_at=start, left_at=start + timedelta(hours=2)
        )
    first = RollCall.objects.create(meeting=meeting, number=1, opened_at=start)
    second = RollCall.objects.create(
        meeting=meeting, number=2, opened_at=start + timedelta(hours=1)
    )
    RollCallAnswer.objects.create(
        roll_call=first, site=org.site_a, delegates_present=28, answered_at=start
    )
    RollCallAnswer.objects.create(
        roll_call=second, site=org.site_a, delegates_present=30, answered_at=start
    )
    RollCallAnswer.objects.create(
        roll_call=first, site=far, delegates_present=10, answered_at=start
    )
    RollCallAnswer.objects.create(
        roll_call=second, site=laos, delegates_present=20, answered_at=start
    )
    RollCallAnswer.objects.create(
        roll_call=second, site=org.main, delegates_present=40, answered_at=start
    )
    return Held(meeting, far, laos)


def test_meeting_savings_add_up_the_hand_computed_sites(held: Held) -> None:
    report = services.meeting_report(held.meeting)
    by_code = {line.site_code: line for line in report.savings.lines}
    assert set(by_code) == {"CSDN", "CSDT", "CSHN", "CSVL"}  # the venue does not travel
    # flight: 1.478 road km / 1,3 = 1.137 km flown, as in the pure case
    assert by_code["CSHN"].distance_km == 1137
    assert by_code["CSDN"].total == 9_600_000
    assert by_code["CSHN"].total == 58_500_000
    assert by_code["CSVL"].total == 101_000_000
    assert by_code["CSDT"].total == 11_000_000
    assert report.savings.travel_cost == 180_100_000
    assert report.savings.hours == Decimal("860.50")
    assert (report.present, report.invited) == (4, 4)


def test_delegates_come_from_the_latest_roll_call_a_site_answered(held: Held, org: Org) -> None:
    found = services.presence(held.meeting)
    assert found[org.site_a.pk].delegates == 30  # roll call 2, not 1
    assert found[org.site_a.pk].roll_call == 2
    assert found[held.far.pk].delegates == 10  # answered only roll call 1


def test_site_present_without_answer_counts_expected_delegates_as_estimated(
    held: Held, org: Org
) -> None:
    p = services.presence(held.meeting)[org.site_b.pk]
    assert (p.delegates, p.estimated, p.roll_call) == (25, True, None)
    assert services.meeting_report(held.meeting).savings.estimated_sites == 1


def test_invited_site_that_never_joined_is_absent_and_saves_nothing(held: Held, org: Org) -> None:
    Attendance.objects.filter(meeting=held.meeting, site=org.site_b).delete()
    report = services.meeting_report(held.meeting)
    assert "CSDT" not in {line.site_code for line in report.savings.lines}
    assert (report.present, report.invited) == (3, 4)
    assert report.participation == Decimal("75.0")


def test_rates_in_force_on_the_meeting_day_are_used(held: Held) -> None:
    TravelRates.objects.create(valid_from=date(2026, 1, 1), name="2026", per_diem_per_day=300_000)
    TravelRates.objects.create(valid_from=date(2026, 4, 1), name="later", per_diem_per_day=999_000)
    report = services.meeting_report(held.meeting)
    assert report.savings.rates.name == "2026"
    nearby = next(line for line in report.savings.lines if line.site_code == "CSDN")
    assert nearby.per_diem == 300_000


def test_online_cost_entered_for_the_meeting_is_subtracted(held: Held) -> None:
    MeetingTravel.objects.create(meeting=held.meeting, online_cost=5_000_000)
    assert services.meeting_report(held.meeting).savings.net == 175_100_000


def test_another_venue_makes_hq_delegates_travel(held: Held, org: Org) -> None:
    org.site_a.latitude, org.site_a.longitude = Decimal("10.938"), Decimal("107.241")
    org.site_a.save()
    MeetingTravel.objects.create(meeting=held.meeting, venue=org.site_a)
    lines = {line.site_code: line for line in services.meeting_report(held.meeting).savings.lines}
    assert "CSDN" not in lines
    assert lines["HQ"].delegates == 40
    assert lines["HQ"].distance_source == "computed"  # an entered distance is to HQ only


def test_dashboard_groups_by_month_quarter_and_year(held: Held, org: Org) -> None:
    later = _held(org, timezone.make_aware(datetime(2026, 8, 5, 8, 0)), "Tập huấn")
    Invitation.objects.create(meeting=later, site=org.site_a)
    Attendance.objects.create(meeting=later, site=org.site_a, joined_at=later.start)
    _held(org, timezone.make_aware(datetime(2025, 6, 1, 8, 0)), "Năm trước")
    cancelled = _held(org, timezone.make_aware(datetime(2026, 9, 1, 8, 0)), "Huỷ")
    Meeting.objects.filter(pk=cancelled.pk).update(status=MeetingStatus.CANCELLED)
    from diemcau.accounts.models import User

    admin = User.objects.create(username="boss", role=Role.ADMIN)
    d = services.dashboard(admin, 2026)
    assert d.total.meetings == 2
    assert d.months[2].travel_cost == 180_100_000
    assert d.months[7].travel_cost == 30 * 320_000  # expected delegates, estimated
    assert d.quarters[0].net == 180_100_000
    assert d.quarters[2].net == 9_600_000
    assert d.total.net == 189_700_000
    assert d.cumulative[-1] == 189_700_000
    assert [y.label for y in d.years] == ["2025", "2026"]
    assert d.all_time.meetings == 3
    assert d.total.participation == Decimal("100.0")  # 5 of 5 invited sites other than HQ


def test_attendance_report_lists_sites_per_meeting(
    held: Held, org: Org, make_user: MakeUser
) -> None:
    Attendance.objects.filter(meeting=held.meeting, site=org.site_b).delete()
    a = services.attendance(make_user(Role.CHAIR), date(2026, 1, 1), date(2027, 1, 1))
    assert len(a.meetings) == 1
    assert a.meetings[0].delegates == 40 + 30 + 10 + 20
    sites = {s.site.code: s for s in a.sites}
    assert (sites["CSDT"].invited, sites["CSDT"].attended) == (1, 0)
    assert sites["CSDN"].delegates == 30


# --- permissions ------------------------------------------------------------------------


def test_site_operator_sees_only_its_own_sites_line(
    held: Held, org: Org, make_user: MakeUser
) -> None:
    client = Client()
    client.force_login(make_user(Role.SITE_OPERATOR, site=org.site_a))
    page = client.get(reverse("reports:meeting", args=[held.meeting.pk]))
    assert page.status_code == 200
    lines = page.context["s"].lines
    assert [line.site_code for line in lines] == ["CSDN"]
    assert "Cao su Việt Lào" not in page.content.decode()
    assert page.context["s"].travel_cost == 9_600_000


def test_site_operator_dashboard_counts_only_its_own_site(
    held: Held, org: Org, make_user: MakeUser
) -> None:
    client = Client()
    client.force_login(make_user(Role.SITE_OPERATOR, site=held.laos))
    page = client.get(reverse("reports:dashboard") + "?year=2026")
    assert page.status_code == 200
    assert page.context["d"].total.net == 101_000_000
    assert page.context["d"].site == held.laos


def test_site_operator_cannot_open_another_sites_attendance(
    held: Held, org: Org, make_user: MakeUser
) -> None:
    client = Client()
    client.force_login(make_user(Role.SITE_OPERATOR, site=org.site_a))
    own = client.get(reverse("reports:site_attendance", args=["CSDN"]) + "?year=2026")
    other = client.get(reverse("reports:site_attendance", args=["CSVL"]) + "?year=2026")
    assert own.status_code == 200
    assert other.status_code == 404


def test_site_operator_attendance_report_holds_only_its_site(
    held: Held, org: Org, make_user: MakeUser
) -> None:
    client = Client()
    client.force_login(make_user(Role.SITE_OPERATOR, site=org.site_a))
    page = client.get(reverse("reports:attendance") + "?year=2026")
    assert [s.site.code for s in page.context["a"].sites] == ["CSDN"]


def test_site_operator_cannot_see_a_meeting_its_site_was_not_invited_to(
    held: Held, org: Org, make_user: MakeUser
) -> None:
    Invitation.objects.filter(meeting=held.meeting, site=org.site_a).delete()
    client = Client()
    client.force_login(make_user(Role.SITE_OPERATOR, site=org.site_a))
    assert client.get(reverse("reports:meeting", args=[held.meeting.pk])).status_code == 404
    assert client.get(reverse("reports:meeting_xlsx", args=[held.meeting.pk])).status_code == 404


def test_user_bound_to_no_site_is_refused(held: Held, make_user: MakeUser) -> None:
    client = Client()
    client.force_login(make_user(Role.DELEGATE))
    assert client.get(reverse("reports:dashboard")).status_code == 403
    assert client.get(reverse("reports:meeting", args=[held.meeting.pk])).status_code == 403


def test_anonymous_user_is_sent_to_login(held: Held) -> None:
    response = Client().get(reverse("reports:dashboard"))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_hq_staff_see_every_site_and_money_the_vietnamese_way(
    held: Held, make_user: MakeUser
) -> None:
    client = Client()
    client.force_login(make_user(Role.HQ_OPERATOR))
    page = client.get(reverse("reports:meeting", args=[held.meeting.pk]), HTTP_ACCEPT_LANGUAGE="vi")
    body = page.content.decode()
    assert len(page.context["s"].lines) == 4
    assert "180.100.000 ₫" in body
    dash = client.get(reverse("reports:dashboard") + "?year=2026").content.decode()
    assert "<svg" in dash and "180.100.000 ₫" in dash


def test_bad_year_names_the_value(make_user: MakeUser) -> None:
    client = Client()
    client.force_login(make_user(Role.CHAIR))
    assert client.get(reverse("reports:dashboard") + "?year=abc").status_code == 404
