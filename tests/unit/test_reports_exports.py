"""Generated .xlsx and .pdf files, opened and read back: right totals, Vietnamese intact."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook
from pypdf import PdfReader

from diemcau.accounts.models import Role
from diemcau.reports import exports
from diemcau.reports import selectors as services
from tests.conftest import MakeUser, Org
from tests.unit.test_reports_selectors import Held, make_held

TOTAL = 180_100_000


@pytest.fixture
def held(org: Org) -> Held:
    return make_held(org)


def _pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages)


def _cells(body: bytes, sheet: int = 0) -> list[list[object]]:
    wb = load_workbook(io.BytesIO(body))
    ws = wb.worksheets[sheet]
    return [list(row) for row in ws.iter_rows(values_only=True)]


def test_meeting_xlsx_holds_each_site_and_the_totals(held: Held) -> None:
    body = exports.meeting_xlsx(services.meeting_report(held.meeting))
    rows = _cells(body)
    assert str(rows[0][0]).startswith("Hội nghị thông báo nhanh")
    sites = {r[1]: r for r in rows if r and r[0] in {"CSDN", "CSDT", "CSHN", "CSVL"}}
    assert sites["Cao su Đồng Nai"][12] == 9_600_000
    assert sites["Cao su Việt Lào"][12] == 101_000_000
    assert sites["Cao su Dầu Tiếng"][3]  # estimated
    totals = [r for r in rows if r and r[12] == TOTAL]
    assert totals, "the travel-cost total row"
    wb = load_workbook(io.BytesIO(body))
    assert "₫" in wb.worksheets[0].cell(row=4, column=13).number_format
    rates = [r for r in _cells(body, 1) if r[0]]
    assert any("40/2017/TT-BTC" in str(r[1]) for r in rates)


def test_meeting_pdf_reads_back_with_totals_and_diacritics(held: Held) -> None:
    with translation.override("vi"):
        body = exports.meeting_pdf(services.meeting_report(held.meeting))
    text = _pdf_text(body)
    for name in (
        "Hội nghị thông báo nhanh",
        "Cao su Đồng Nai",
        "Cao su Việt Lào",
        "Cao su Dầu Tiếng",
        "Cao su Hà Nội",
        "Thông tư 40/2017/TT-BTC",
    ):
        assert name in text
    assert "180.100.000 ₫" in text
    assert "101.000.000 ₫" in text


def test_dashboard_xlsx_and_pdf_carry_the_year_total(held: Held, make_user: MakeUser) -> None:
    client = Client()
    client.force_login(make_user(Role.CHAIR))
    xlsx = client.get(reverse("reports:dashboard_xlsx") + "?year=2026")
    assert xlsx.status_code == 200
    assert xlsx["Content-Disposition"] == 'attachment; filename="tiet-kiem-2026.xlsx"'
    rows = _cells(xlsx.content)
    assert any(r[1] == "Hội nghị thông báo nhanh" and r[7] == TOTAL for r in rows)
    months = _cells(xlsx.content, 1)
    assert any(r[0] == "03/2026" and r[5] == TOTAL for r in months)
    pdf = client.get(reverse("reports:dashboard_pdf") + "?year=2026", HTTP_ACCEPT_LANGUAGE="vi")
    assert pdf["Content-Type"] == "application/pdf"
    text = _pdf_text(pdf.content)
    assert "180.100.000 ₫" in text
    assert "Hội nghị thông báo nhanh" in text


def test_attendance_xlsx_lists_meetings_sites_and_delegates(
    held: Held, org: Org, make_user: MakeUser
) -> None:
    client = Client()
    client.force_login(make_user(Role.HQ_OPERATOR))
    response = client.get(reverse("reports:attendance_xlsx") + "?year=2026")
    assert response.status_code == 200
    meetings = _cells(response.content, 0)
    assert any(r[1] == "Hội nghị thông báo nhanh" and r[3] == 5 and r[5] == 125 for r in meetings)
    sites = {r[0]: r for r in _cells(response.content, 1)}
    assert sites["CSDT"][1] == "Cao su Dầu Tiếng"
    assert sites["CSDT"][8] == 1  # one estimated count
    matrix = {r[0]: r for r in _cells(response.content, 2)}
    assert matrix["CSVL"][2] == 20


def test_site_operator_exports_only_its_own_site(held: Held, org: Org, make_user: MakeUser) -> None:
    client = Client()
    client.force_login(make_user(Role.SITE_OPERATOR, site=org.site_a))
    rows = _cells(client.get(reverse("reports:meeting_xlsx", args=[held.meeting.pk])).content)
    codes = {r[0] for r in rows if r and r[0] in {"CSDN", "CSDT", "CSHN", "CSVL"}}
    assert codes == {"CSDN"}
    text = _pdf_text(client.get(reverse("reports:meeting_pdf", args=[held.meeting.pk])).content)
    assert "Cao su Việt Lào" not in text
    sites = _cells(client.get(reverse("reports:attendance_xlsx") + "?year=2026").content, 1)
    assert {r[0] for r in sites[3:]} == {"CSDN"}


@pytest.mark.django_db
def test_empty_year_still_exports() -> None:
    from diemcau.accounts.models import User

    admin = User.objects.create(username="a", role=Role.ADMIN)
    d = services.dashboard(admin, 2030)
    assert _pdf_text(exports.dashboard_pdf(d))
    assert _cells(exports.dashboard_xlsx(d))
    assert _cells(
        exports.attendance_xlsx(services.attendance(admin, date(2030, 1, 1), date(2031, 1, 1)))
    )
