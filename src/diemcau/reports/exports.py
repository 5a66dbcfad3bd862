"""Report files: Excel (.xlsx, openpyxl) and PDF (reportlab, with an embedded DejaVu font so
Vietnamese text survives). Each function takes a report from `services` and returns bytes.

Money goes into Excel as whole numbers with a "₫" number format, so the cells still add up.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from diemcau.exportsafety import append_row, pdf_markup, xml_text
from diemcau.reports import charts, savings
from diemcau.reports.formatting import hours, percent, vnd
from diemcau.reports.selectors import AttendanceReport, Dashboard, MeetingReport

MONEY = '#,##0 "₫"'
HOURS = "#,##0.0"
PERCENT = '0.0" %"'

# Debian's fonts-dejavu-core; DejaVu covers every Vietnamese letter (ơ, ư, ạ, ễ…).
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]
FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"


class FontMissing(RuntimeError):
    pass


def mode_label(mode: savings.TravelMode | None) -> str:
    return {
        savings.TravelMode.ROAD: _("road"),
        savings.TravelMode.FLIGHT: _("flight"),
        savings.TravelMode.ABROAD: _("from abroad"),
        None: _("distance unknown"),
    }[mode]


def rates_lines(rates: savings.Rates) -> list[tuple[str, str]]:
    """The rates a report used, as (label, value) lines: every report prints them."""
    when = (
        formats.date_format(rates.valid_from, "SHORT_DATE_FORMAT")
        if rates.valid_from
        else _("built-in defaults")
    )
    flight = (
        _("%(price)s per one-way flight") % {"price": vnd(rates.flight_price)}
        if rates.flight_pricing is savings.FlightPricing.PER_TRIP
        else _("%(price)s per km flown") % {"price": vnd(rates.flight_price)}
    )
    return [
        (_("Rate set"), f"{rates.name} — {_('valid from')} {when}"),
        (_("Road factor"), formats.number_format(rates.road_factor, decimal_pos=2)),
        (_("Road fare"), _("%(price)s per km, one way") % {"price": vnd(rates.road_price_per_km)}),
        (_("Road speed"), f"{rates.road_speed_kmh} km/h"),
        (
            _("Flight"),
            _("above %(km)s km by road: %(flight)s")
            % {
                "km": formats.number_format(rates.flight_threshold_km, force_grouping=True),
                "flight": flight,
            },
        ),
        (
            _("From abroad"),
            _("%(price)s per km, one way; %(h)s h at the border per leg")
            % {"price": vnd(rates.abroad_price_per_km), "h": hours(rates.abroad_border_hours)},
        ),
        (_("Per-diem allowance"), _("%(price)s per day") % {"price": vnd(rates.per_diem_per_day)}),
        (
            _("Lodging"),
            _("%(price)s per night, when the round trip takes over %(h)s h")
            % {"price": vnd(rates.lodging_per_night), "h": hours(rates.day_trip_max_hours)},
        ),
        (
            _("Online cost"),
            _("%(meeting)s per meeting + %(site)s per site")
            % {
                "meeting": vnd(rates.online_cost_per_meeting),
                "site": vnd(rates.online_cost_per_site),
            },
        ),
    ]


# --- Excel ------------------------------------------------------------------------------


def _sheet(
    ws: Worksheet,
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    formats_: Sequence[str | None] = (),
) -> None:
    append_row(ws, [title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([])
    append_row(ws, list(header))
    head_row = ws.max_row
    for cell in ws[head_row]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="EEF1F5")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        append_row(ws, [float(v) if isinstance(v, Decimal) else v for v in row])
        for i, fmt in enumerate(formats_):
            if fmt:
                ws.cell(row=ws.max_row, column=i + 1).number_format = fmt
    for i, name in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(len(name) + 4, 40))
    ws.freeze_panes = f"A{head_row + 1}"


def _rates_sheet(wb: Workbook, rates: Iterable[savings.Rates]) -> None:
    ws = wb.create_sheet(_("Rates"))
    append_row(ws, [_("Rates used")])
    ws["A1"].font = Font(bold=True, size=13)
    for r in rates:
        ws.append([])
        for label, value in rates_lines(r):
            append_row(ws, [label, value])
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 80


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _local(dt: Any) -> str:
    return formats.date_format(timezone.localtime(dt), "SHORT_DATETIME_FORMAT") if dt else ""


LINE_HEADER = (
    gettext_noop("Site code"),
    gettext_noop("Site"),
    gettext_noop("Delegates"),
    gettext_noop("Estimated"),
    gettext_noop("Mode"),
    gettext_noop("Distance (km)"),
    gettext_noop("Fare"),
    gettext_noop("Days"),
    gettext_noop("Nights"),
    gettext_noop("Per-diem"),
    gettext_noop("Lodging"),
    gettext_noop("Per delegate"),
    gettext_noop("Total"),
    gettext_noop("Hours avoided"),
)
LINE_FORMATS = (
    None,
    None,
    "0",
    None,
    None,
    "#,##0",
    MONEY,
    "0",
    "0",
    MONEY,
    MONEY,
    MONEY,
    MONEY,
    HOURS,
)


def _line_row(line: savings.TripCost) -> list[Any]:
    return [
        line.site_code,
        line.site_name,
        line.delegates,
        _("yes") if line.estimated else "",
        mode_label(line.mode),
        line.distance_km,
        line.fare,
        line.days,
        line.nights,
        line.per_diem,
        line.lodging,
        line.per_delegate,
        line.total,
        line.hours,
    ]


def meeting_xlsx(report: MeetingReport) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _("Savings")
    s = report.savings
    rows: list[list[Any]] = [_line_row(line) for line in s.lines]
    rows.append([])
    rows.append(["", _("Travel cost avoided")] + [""] * 10 + [s.travel_cost, s.hours])
    rows.append(["", _("Online meeting cost")] + [""] * 10 + [-s.online_cost])
    rows.append(["", _("Net savings")] + [""] * 10 + [s.net])
    _sheet(
        ws,
        f"{report.meeting.title} — {_local(report.meeting.start)} — {_('venue')}: "
        f"{report.venue.name}",
        [_(h) for h in LINE_HEADER],
        rows,
        LINE_FORMATS,
    )
    _rates_sheet(wb, [s.rates])
    return _save(wb)


PERIOD_HEADER = (
    gettext_noop("Period"),
    gettext_noop("Meetings held"),
    gettext_noop("Delegates"),
    gettext_noop("Travel cost avoided"),
    gettext_noop("Online cost"),
    gettext_noop("Net savings"),
    gettext_noop("Travel hours avoided"),
    gettext_noop("Participation (%)"),
)
PERIOD_FORMATS = ("@", "0", "#,##0", MONEY, MONEY, MONEY, HOURS, PERCENT)


def _bucket_row(b: Any) -> list[Any]:
    return [
        b.label,
        b.meetings,
        b.delegates,
        b.travel_cost,
        b.online_cost,
        b.net,
        b.hours,
        b.participation,
    ]


def dashboard_xlsx(d: Dashboard) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _("Meetings")
    title = _("Travel savings %(year)s") % {"year": d.year}
    if d.site is not None:
        title += f" — {d.site.name}"
    _sheet(
        ws,
        title,
        [
            _("Date"),
            _("Meeting"),
            _("Venue"),
            _("Sites present"),
            _("Delegates"),
            _("Travel cost avoided"),
            _("Online cost"),
            _("Net savings"),
            _("Travel hours avoided"),
            _("Participation (%)"),
        ],
        [
            [
                _local(r.meeting.start),
                r.meeting.title,
                r.venue.name,
                r.present,
                r.savings.delegates,
                r.savings.travel_cost,
                r.savings.online_cost,
                r.savings.net,
                r.savings.hours,
                r.participation,
            ]
            for r in d.reports
        ]
        + [
            [
                _("Total"),
                "",
                "",
                "",
                d.total.delegates,
                d.total.travel_cost,
                d.total.online_cost,
                d.total.net,
                d.total.hours,
                d.total.participation,
            ]
        ],
        (None, None, None, "0", "#,##0", MONEY, MONEY, MONEY, HOURS, PERCENT),
    )
    for name, buckets in (
        (_("Months"), d.months),
        (_("Quarters"), d.quarters),
        (_("Years"), d.years),
    ):
        _sheet(
            wb.create_sheet(name),
            name,
            [_(h) for h in PERIOD_HEADER],
            [_bucket_row(b) for b in buckets],
            PERIOD_FORMATS,
        )
    _rates_sheet(wb, d.rates_used or [savings.DEFAULT_RATES])
    return _save(wb)


def attendance_xlsx(a: AttendanceReport) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _("Meetings")
    period = (
        f"{formats.date_format(a.start, 'SHORT_DATE_FORMAT')} – "
        f"{formats.date_format(a.end, 'SHORT_DATE_FORMAT')}"
    )
    rows: list[list[Any]] = []
    for m in a.meetings:
        present = sum(1 for s in m.invited if s.pk in m.present)
        rows.append(
            [
                _local(m.meeting.start),
                m.meeting.title,
                len(m.invited),
                present,
                m.participation,
                m.delegates,
            ]
        )
    _sheet(
        ws,
        _("Attendance per meeting, %(period)s") % {"period": period},
        [
            _("Date"),
            _("Meeting"),
            _("Sites invited"),
            _("Sites present"),
            _("Participation (%)"),
            _("Delegates"),
        ],
        rows,
        (None, None, "0", "0", PERCENT, "#,##0"),
    )
    _sheet(
        wb.create_sheet(_("Sites")),
        _("Attendance per site, %(period)s") % {"period": period},
        [
            _("Site code"),
            _("Site"),
            _("Province"),
            _("Invited"),
            _("Attended"),
            _("Participation (%)"),
            _("Delegates"),
            _("Average delegates"),
            _("Estimated counts"),
        ],
        [
            [
                s.site.code,
                s.site.name,
                s.site.province,
                s.invited,
                s.attended,
                s.participation,
                s.delegates,
                s.average_delegates,
                s.estimated,
            ]
            for s in a.sites
        ],
        (None, None, None, "0", "0", PERCENT, "#,##0", "0.0", "0"),
    )
    # Sites × meetings: delegates present (empty: invited, absent; "—": not invited).
    matrix = wb.create_sheet(_("Sites × meetings"))
    header = [_("Site code"), _("Site")] + [
        f"{formats.date_format(timezone.localtime(m.meeting.start), 'SHORT_DATE_FORMAT')} "
        f"{m.meeting.title}"
        for m in a.meetings
    ]
    body = []
    for s in a.sites:
        row: list[Any] = [s.site.code, s.site.name]
        for m in a.meetings:
            if m.meeting.pk not in s.by_meeting:
                row.append("—")
            else:
                p = s.by_meeting[m.meeting.pk]
                row.append(p.delegates if p is not None else None)
        body.append(row)
    _sheet(matrix, _("Delegates present per site and meeting"), header, body)
    return _save(wb)


# --- PDF --------------------------------------------------------------------------------


def _register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    extra = getattr(settings, "REPORTS_FONT_DIR", None)
    for folder in [Path(extra)] if extra else FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file():
            pdfmetrics.registerFont(TTFont(FONT, str(regular)))
            pdfmetrics.registerFont(TTFont(FONT_BOLD, str(bold if bold.is_file() else regular)))
            pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD)
            return
    raise FontMissing(
        f"DejaVuSans.ttf not found in {', '.join(str(d) for d in FONT_DIRS)}: "
        "install the Debian package fonts-dejavu-core"
    )


def _pdf(title: str, story_parts: list[Any], landscape_page: bool = True) -> bytes:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4) if landscape_page else A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=xml_text(title),
        author=_("Điểm Cầu"),
    )
    doc.build(story_parts)
    return out.getvalue()


def _styles() -> dict[str, Any]:
    from reportlab.lib.styles import ParagraphStyle

    _register_fonts()
    return {
        "h1": ParagraphStyle("h1", fontName=FONT_BOLD, fontSize=15, leading=19, spaceAfter=6),
        "h2": ParagraphStyle(
            "h2", fontName=FONT_BOLD, fontSize=11.5, leading=15, spaceBefore=8, spaceAfter=4
        ),
        "p": ParagraphStyle("p", fontName=FONT, fontSize=9, leading=12),
        "cell": ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10),
    }


def _table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], numeric_from: int, total_rows: int = 0
) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    st = _styles()
    # Names and titles are user text: escaped, since a Paragraph reads markup.
    data: list[list[Any]] = [[Paragraph(pdf_markup(str(h)), st["cell"]) for h in header]]
    for row in rows:
        data.append(
            [
                Paragraph(pdf_markup(str(c)), st["cell"]) if i < numeric_from else xml_text(str(c))
                for i, c in enumerate(row)
            ]
        )
    table = Table(data, repeatRows=1)
    style: list[Any] = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")),
        ("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cccccc")),
    ]
    if total_rows:
        style.append(("FONTNAME", (0, -total_rows), (-1, -1), FONT_BOLD))
    table.setStyle(TableStyle(style))
    return table


def _rates_story(rates: Iterable[savings.Rates]) -> list[Any]:
    from reportlab.platypus import Paragraph

    st = _styles()
    story: list[Any] = [Paragraph(pdf_markup(_("Rates used")), st["h2"])]
    for r in rates:
        for label, value in rates_lines(r):
            story.append(Paragraph(f"<b>{pdf_markup(label)}:</b> {pdf_markup(value)}", st["p"]))
    return story


def meeting_pdf(report: MeetingReport) -> bytes:
    from reportlab.platypus import Paragraph, Spacer

    st = _styles()
    s = report.savings
    title = _("Travel savings: %(meeting)s") % {"meeting": report.meeting.title}
    story: list[Any] = [
        Paragraph(pdf_markup(title), st["h1"]),
        Paragraph(
            pdf_markup(f"{_local(report.meeting.start)} · {_('venue')}: {report.venue.name}"),
            st["p"],
        ),
        Spacer(1, 6),
    ]
    rows = [
        [
            line.site_code,
            line.site_name,
            f"{line.delegates}{' *' if line.estimated else ''}",
            mode_label(line.mode),
            formats.number_format(line.distance_km, force_grouping=True),
            vnd(line.per_delegate),
            vnd(line.total),
            hours(line.hours),
        ]
        for line in s.lines
    ] + [
        [
            "",
            _("Travel cost avoided"),
            str(s.delegates),
            "",
            "",
            "",
            vnd(s.travel_cost),
            hours(s.hours),
        ],
        ["", _("Online meeting cost"), "", "", "", "", vnd(-s.online_cost), ""],
        ["", _("Net savings"), "", "", "", "", vnd(s.net), ""],
    ]
    story.append(
        _table(
            [
                _("Code"),
                _("Site"),
                _("Delegates"),
                _("Mode"),
                _("Distance (km)"),
                _("Per delegate"),
                _("Total"),
                _("Hours avoided"),
            ],
            rows,
            numeric_from=2,
            total_rows=3,
        )
    )
    if s.estimated_sites:
        story.append(
            Paragraph(
                pdf_markup(_("* No roll-call answer: the site's expected delegates are counted.")),
                st["p"],
            )
        )
    story += _rates_story([s.rates])
    return _pdf(title, story)


def dashboard_pdf(d: Dashboard) -> bytes:
    from reportlab.platypus import Paragraph, Spacer

    st = _styles()
    title = _("Travel savings %(year)s") % {"year": d.year}
    if d.site is not None:
        title += f" — {d.site.name}"
    t = d.total
    story: list[Any] = [
        Paragraph(pdf_markup(title), st["h1"]),
        Paragraph(
            pdf_markup(
                _(
                    "%(n)s meetings held · net savings %(net)s · %(h)s travel hours avoided · "
                    "participation %(p)s"
                )
                % {
                    "n": t.meetings,
                    "net": vnd(t.net),
                    "h": hours(t.hours),
                    "p": percent(t.participation),
                }
            ),
            st["p"],
        ),
        Spacer(1, 6),
        charts.bar_drawing(
            _("Net savings per month (line: cumulative)"),
            [f"{m:02d}" for m in range(1, 13)],
            [b.net for b in d.months],
            lambda v: formats.number_format(int(v), force_grouping=True),
            FONT,
            line=d.cumulative,
        ),
        charts.bar_drawing(
            _("Travel hours avoided per month"),
            [f"{m:02d}" for m in range(1, 13)],
            [b.hours for b in d.months],
            lambda v: formats.number_format(int(v), force_grouping=True),
            FONT,
        ),
        Paragraph(pdf_markup(_("Per quarter")), st["h2"]),
        _table(
            [_(h) for h in PERIOD_HEADER],
            [
                [
                    b.label,
                    b.meetings,
                    b.delegates,
                    vnd(b.travel_cost),
                    vnd(b.online_cost),
                    vnd(b.net),
                    hours(b.hours),
                    percent(b.participation),
                ]
                for b in [*d.quarters, t]
            ],
            numeric_from=1,
            total_rows=1,
        ),
        Paragraph(pdf_markup(_("Meetings")), st["h2"]),
        _table(
            [
                _("Date"),
                _("Meeting"),
                _("Sites present"),
                _("Delegates"),
                _("Net savings"),
                _("Travel hours avoided"),
            ],
            [
                [
                    _local(r.meeting.start),
                    r.meeting.title,
                    r.present,
                    r.savings.delegates,
                    vnd(r.savings.net),
                    hours(r.savings.hours),
                ]
                for r in d.reports
            ]
            + [[_("Total"), "", "", t.delegates, vnd(t.net), hours(t.hours)]],
            numeric_from=2,
            total_rows=1,
        ),
    ]
    story += _rates_story(d.rates_used or [savings.DEFAULT_RATES])
    return _pdf(title, story)
