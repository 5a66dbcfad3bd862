"""Selectors (read only): reports from the meeting record, travel savings and attendance,
scoped to who asks.

Docs: docs/savings.md. This module reads the database and hands plain values to
`savings.py`; it never changes the record (reports are computed, not stored, so a
corrected roll call or a newly dated rate set shows in the next report).

Scope: HQ staff see every site; anyone bound to a site (a site operator, a delegate) sees
only that site's lines, for the meetings that site was invited to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.accounts.permissions import is_hq_staff
from diemcau.live.models import Attendance, RollCallAnswer
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.meetings.selectors import visible_meetings
from diemcau.orgs.models import Site, SiteKind
from diemcau.reports import savings
from diemcau.reports.models import MeetingTravel, SiteTravel, TravelRates


def scope_site_id(user: Any) -> int | None:
    """None for HQ staff (every site); the user's site id otherwise; 403 for anyone else."""
    if is_hq_staff(user):
        return None
    site_id = getattr(user, "site_id", None)
    if not site_id:
        raise PermissionDenied
    return int(site_id)


# --- who was there ----------------------------------------------------------------------


@dataclass(frozen=True)
class Presence:
    site: Site
    delegates: int
    estimated: bool  # no roll-call answer: the site's expected delegates
    roll_call: int | None  # the number of the roll call the count comes from
    first_join: Any = None
    last_leave: Any = None
    connections: int = 0


def presence(meeting: Meeting) -> dict[int, Presence]:
    """Every site present at a meeting, with its delegates.

    A site is present if it connected (an attendance row) or answered a roll call. Its
    delegates are its answer to the latest roll call it answered (a site that dropped out
    of a later roll call still had its room full); a site that never answered counts
    with its expected delegates, marked estimated.
    """
    answers: dict[int, tuple[int, int]] = {}
    for answer in RollCallAnswer.objects.filter(roll_call__meeting=meeting).select_related(
        "roll_call"
    ):
        number = answer.roll_call.number
        if answer.site_id not in answers or answers[answer.site_id][0] < number:
            answers[answer.site_id] = (number, answer.delegates_present)
    joins: dict[int, list[Attendance]] = defaultdict(list)
    for row in Attendance.objects.filter(meeting=meeting):
        joins[row.site_id].append(row)
    site_ids = set(answers) | set(joins)
    result: dict[int, Presence] = {}
    for site in Site.objects.filter(pk__in=site_ids).select_related("unit"):
        rows = joins.get(site.pk, [])
        leaves = [r.left_at for r in rows if r.left_at is not None]
        first_join = min((r.joined_at for r in rows), default=None)
        last_leave = max(leaves) if leaves and len(leaves) == len(rows) else None
        answered: int | None = None
        delegates = site.expected_delegates
        if site.pk in answers:
            answered, delegates = answers[site.pk]
        result[site.pk] = Presence(
            site,
            delegates,
            estimated=answered is None,
            roll_call=answered,
            first_join=first_join,
            last_leave=last_leave,
            connections=len(rows),
        )
    return result


# --- savings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingReport:
    meeting: Meeting
    venue: Site
    savings: savings.MeetingSavings
    invited: int
    present: int  # present sites other than the venue
    scoped: bool  # only one site's line (a site's own view)

    @property
    def participation(self) -> Decimal:
        return _rate(self.present, self.invited)


def _rate(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal(0)
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"))


def venue_of(meeting: Meeting) -> Site:
    travel = MeetingTravel.objects.filter(meeting=meeting).select_related("venue").first()
    if travel is not None and travel.venue is not None:
        return travel.venue
    return meeting.main_site


def site_trip(p: Presence, venue: Site, travel: SiteTravel | None) -> savings.SiteTrip:
    site = p.site
    gc: float | None = None
    if None not in (site.latitude, site.longitude, venue.latitude, venue.longitude):
        gc = savings.great_circle_km(
            float(site.latitude),  # type: ignore[arg-type]
            float(site.longitude),  # type: ignore[arg-type]
            float(venue.latitude),  # type: ignore[arg-type]
            float(venue.longitude),  # type: ignore[arg-type]
        )
    # An entered road distance is to HQ: it holds only when the venue is the HQ room.
    road_km = travel.road_km if travel is not None and venue.kind == SiteKind.MAIN else None
    mode = savings.TravelMode(travel.mode) if travel is not None and travel.mode else None
    return savings.SiteTrip(
        site_code=site.code,
        site_name=site.name,
        delegates=p.delegates,
        estimated=p.estimated,
        great_circle_km=gc,
        road_km=road_km,
        abroad=site.country.upper() != venue.country.upper(),
        mode=mode,
    )


def meeting_report(meeting: Meeting, site_id: int | None = None) -> MeetingReport:
    """The savings of one meeting; with `site_id`, only that site's line (no online cost)."""
    venue = venue_of(meeting)
    rates = TravelRates.in_force(timezone.localtime(meeting.start).date())
    present = {pk: p for pk, p in presence(meeting).items() if pk != venue.pk}
    travel = {t.site_id: t for t in SiteTravel.objects.filter(site_id__in=present)}
    invited = meeting.invitations.exclude(site_id=venue.pk)
    present_count = len(present)
    if site_id is not None:
        present = {pk: p for pk, p in present.items() if pk == site_id}
        invited = invited.filter(site_id=site_id)
    trips = [
        site_trip(p, venue, travel.get(pk))
        for pk, p in sorted(present.items(), key=lambda kv: kv[1].site.code)
    ]
    online: int | None
    if site_id is not None:
        online = 0  # the online cost belongs to the meeting, not to one site
    else:
        setting = MeetingTravel.objects.filter(meeting=meeting).first()
        online = setting.online_cost if setting is not None else None
        online = savings.online_cost(rates, present_count, online)
    return MeetingReport(
        meeting=meeting,
        venue=venue,
        savings=savings.meeting_savings(trips, rates, online=online),
        invited=invited.count(),
        present=len(present),
        scoped=site_id is not None,
    )


def held_meetings(
    user: Any, start: date | None = None, end: date | None = None
) -> QuerySet[Meeting]:
    """Ended meetings the user may see, optionally with a local start date in [start, end)."""
    meetings = visible_meetings(user).filter(status=MeetingStatus.ENDED).order_by("start")
    if start is not None:
        meetings = meetings.filter(start__date__gte=start)
    if end is not None:
        meetings = meetings.filter(start__date__lt=end)
    return meetings


@dataclass
class Bucket:
    """Savings summed over a period (a month, a quarter, a year)."""

    label: str
    meetings: int = 0
    travel_cost: int = 0
    online_cost: int = 0
    net: int = 0
    hours: Decimal = Decimal(0)
    delegates: int = 0
    invited: int = 0
    present: int = 0

    def add(self, report: MeetingReport) -> None:
        s = report.savings
        self.meetings += 1
        self.travel_cost += s.travel_cost
        self.online_cost += s.online_cost
        self.net += s.net
        self.hours += s.hours
        self.delegates += s.delegates
        self.invited += report.invited
        self.present += report.present

    @property
    def participation(self) -> Decimal:
        return _rate(self.present, self.invited)


@dataclass
class Dashboard:
    year: int
    reports: list[MeetingReport]
    months: list[Bucket]
    quarters: list[Bucket]
    total: Bucket
    years: list[Bucket]  # every year with held meetings, for the cumulative view
    rates_used: list[savings.Rates] = field(default_factory=list)
    site: Site | None = None

    @property
    def cumulative(self) -> list[int]:
        """Net savings summed month by month through the year."""
        running, out = 0, []
        for month in self.months:
            running += month.net
            out.append(running)
        return out

    @property
    def all_time(self) -> Bucket:
        total = Bucket("all")
        for y in self.years:
            total.meetings += y.meetings
            total.travel_cost += y.travel_cost
            total.online_cost += y.online_cost
            total.net += y.net
            total.hours += y.hours
            total.delegates += y.delegates
            total.invited += y.invited
            total.present += y.present
        return total


def dashboard(user: Any, year: int) -> Dashboard:
    site_id = scope_site_id(user)
    months = [Bucket(f"{m:02d}/{year}") for m in range(1, 13)]
    quarters = [Bucket(_("Q%(q)d/%(y)d") % {"q": q, "y": year}) for q in range(1, 5)]
    total = Bucket(str(year))
    years: dict[int, Bucket] = {}
    reports: list[MeetingReport] = []
    rates: dict[object, savings.Rates] = {}
    for meeting in held_meetings(user):
        report = meeting_report(meeting, site_id)
        local = timezone.localtime(meeting.start)
        years.setdefault(local.year, Bucket(str(local.year))).add(report)
        if local.year != year:
            continue
        reports.append(report)
        months[local.month - 1].add(report)
        quarters[(local.month - 1) // 3].add(report)
        total.add(report)
        rates[report.savings.rates.valid_from] = report.savings.rates
    return Dashboard(
        year=year,
        reports=reports,
        months=months,
        quarters=quarters,
        total=total,
        years=[years[y] for y in sorted(years)],
        rates_used=list(rates.values()),
        site=Site.objects.get(pk=site_id) if site_id is not None else None,
    )


# --- attendance -------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingAttendance:
    meeting: Meeting
    invited: list[Site]
    present: dict[int, Presence]

    @property
    def delegates(self) -> int:
        return sum(p.delegates for p in self.present.values())

    @property
    def participation(self) -> Decimal:
        return _rate(sum(1 for s in self.invited if s.pk in self.present), len(self.invited))


@dataclass
class SiteAttendance:
    site: Site
    invited: int = 0
    attended: int = 0
    delegates: int = 0
    estimated: int = 0
    by_meeting: dict[int, Presence | None] = field(default_factory=dict)

    @property
    def participation(self) -> Decimal:
        return _rate(self.attended, self.invited)

    @property
    def average_delegates(self) -> Decimal:
        if not self.attended:
            return Decimal(0)
        return (Decimal(self.delegates) / self.attended).quantize(Decimal("0.1"))


@dataclass
class AttendanceReport:
    start: date
    end: date
    meetings: list[MeetingAttendance]
    sites: list[SiteAttendance]


def attendance(
    user: Any, start: date, end: date, meeting_ids: Sequence[int] = ()
) -> AttendanceReport:
    """Which sites attended the held meetings in [start, end) and with how many delegates."""
    site_id = scope_site_id(user)
    meetings = held_meetings(user, start, end)
    if meeting_ids:
        meetings = meetings.filter(pk__in=meeting_ids)
    rows: list[MeetingAttendance] = []
    per_site: dict[int, SiteAttendance] = {}
    for meeting in meetings:
        invited = [inv.site for inv in meeting.invitations.select_related("site")]
        present = presence(meeting)
        if site_id is not None:
            invited = [s for s in invited if s.pk == site_id]
            present = {pk: p for pk, p in present.items() if pk == site_id}
        rows.append(MeetingAttendance(meeting, invited, present))
        for site in _union(invited, (p.site for p in present.values())):
            entry = per_site.setdefault(site.pk, SiteAttendance(site))
            p = present.get(site.pk)
            entry.invited += 1
            entry.by_meeting[meeting.pk] = p
            if p is not None:
                entry.attended += 1
                entry.delegates += p.delegates
                entry.estimated += int(p.estimated)
    sites = sorted(per_site.values(), key=lambda s: (s.site.kind != SiteKind.MAIN, s.site.code))
    return AttendanceReport(start, end, rows, sites)


def _union(a: Iterable[Site], b: Iterable[Site]) -> list[Site]:
    seen: dict[int, Site] = {s.pk: s for s in a}
    for s in b:
        seen.setdefault(s.pk, s)
    return list(seen.values())
