"""Report pages and downloads. Thin: parse, scope to the user, call `selectors`, render.

Who sees what is decided in `selectors.scope_site_id`: HQ staff see every site; anyone
bound to a site sees only its own lines; anyone else gets 403.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from diemcau.meetings.selectors import visible_meetings
from diemcau.orgs.models import Site
from diemcau.reports import charts, exports, selectors
from diemcau.reports.formatting import hours, percent

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _year(request: HttpRequest) -> int:
    raw = request.GET.get("year", "")
    if not raw:
        return timezone.localdate().year
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise Http404(f"year must be from 2000 to 2100 (got {raw!r})")
    return int(raw)


def _download(body: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    d = selectors.dashboard(request.user, _year(request))
    labels = [f"{m:02d}" for m in range(1, 13)]
    money = lambda v: formats.number_format(int(v), force_grouping=True)  # noqa: E731
    context: dict[str, Any] = {
        "d": d,
        "all_time": d.all_time,
        "year_choices": sorted(
            {d.year, timezone.localdate().year, *(int(y.label) for y in d.years)}
        ),
        "savings_chart": charts.bar_svg(
            _("Net savings per month (₫)"),
            labels,
            [b.net for b in d.months],
            money,
            line=d.cumulative,
            line_label=_("cumulative"),
        ),
        "hours_chart": charts.bar_svg(
            _("Travel hours avoided per month"),
            labels,
            [b.hours for b in d.months],
            lambda v: hours(v),
        ),
        "participation_chart": charts.bar_svg(
            _("Participation per month (%)"),
            labels,
            [b.participation for b in d.months],
            lambda v: percent(v),
        ),
        "years_chart": charts.bar_svg(
            _("Net savings per year (₫)"),
            [y.label for y in d.years],
            [y.net for y in d.years],
            money,
        ),
    }
    return render(request, "reports/dashboard.html", context)


@login_required
def dashboard_xlsx(request: HttpRequest) -> HttpResponse:
    d = selectors.dashboard(request.user, _year(request))
    return _download(exports.dashboard_xlsx(d), XLSX, f"tiet-kiem-{d.year}.xlsx")


@login_required
def dashboard_pdf(request: HttpRequest) -> HttpResponse:
    d = selectors.dashboard(request.user, _year(request))
    return _download(exports.dashboard_pdf(d), "application/pdf", f"tiet-kiem-{d.year}.pdf")


def _meeting_report(request: HttpRequest, pk: int) -> selectors.MeetingReport:
    site_id = selectors.scope_site_id(request.user)
    meeting = get_object_or_404(visible_meetings(request.user), pk=pk)
    return selectors.meeting_report(meeting, site_id)


@login_required
def meeting_savings(request: HttpRequest, pk: int) -> HttpResponse:
    report = _meeting_report(request, pk)
    return render(
        request,
        "reports/meeting.html",
        {
            "r": report,
            "s": report.savings,
            "rates": exports.rates_lines(report.savings.rates),
            "mode_label": exports.mode_label,
        },
    )


@login_required
def meeting_savings_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    report = _meeting_report(request, pk)
    return _download(exports.meeting_xlsx(report), XLSX, f"tiet-kiem-hop-{pk}.xlsx")


@login_required
def meeting_savings_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    report = _meeting_report(request, pk)
    return _download(exports.meeting_pdf(report), "application/pdf", f"tiet-kiem-hop-{pk}.pdf")


def _period(request: HttpRequest) -> tuple[date, date]:
    year = _year(request)
    return date(year, 1, 1), date(year + 1, 1, 1)


@login_required
def attendance(request: HttpRequest) -> HttpResponse:
    start, end = _period(request)
    report = selectors.attendance(request.user, start, end)
    return render(
        request,
        "reports/attendance.html",
        {
            "a": report,
            "year": start.year,
            "year_choices": sorted({start.year, timezone.localdate().year}),
        },
    )


@login_required
def attendance_xlsx(request: HttpRequest) -> HttpResponse:
    start, end = _period(request)
    report = selectors.attendance(request.user, start, end)
    return _download(exports.attendance_xlsx(report), XLSX, f"tham-du-{start.year}.xlsx")


@login_required
def site_attendance(request: HttpRequest, code: str) -> HttpResponse:
    site = get_object_or_404(Site, code=code)
    scope = selectors.scope_site_id(request.user)
    if scope is not None and scope != site.pk:
        raise Http404("no such site")  # a site's own view: other sites do not exist for it
    start, end = _period(request)
    report = selectors.attendance(request.user, start, end)
    entry = next((s for s in report.sites if s.site.pk == site.pk), None)
    rows = [
        (m, entry.by_meeting.get(m.meeting.pk) if entry else None)
        for m in report.meetings
        if entry is not None and m.meeting.pk in entry.by_meeting
    ]
    return render(
        request,
        "reports/site_attendance.html",
        {"site": site, "entry": entry, "rows": rows, "year": start.year},
    )
