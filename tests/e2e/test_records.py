"""After a meeting: the chair downloads the minutes (.docx, .pdf) and the savings report
(.xlsx, .pdf) a union office files, and the dashboard shows cumulative savings as charts.
Uses the demo's meeting that was already held (recorded through the live services)."""

from __future__ import annotations

import io
import re
from typing import Any

from tests.e2e.conftest import Installation, log_in

HELD = "Thông báo nhanh kết quả Đại hội Đảng bộ Tập đoàn (demo, đã họp)"


def _download(page: Any, selector: str) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    path = info.value.path()
    with open(path, "rb") as fh:
        return fh.read()


def test_chair_downloads_minutes_and_savings_report_of_a_held_meeting(
    installation: Installation, browser: Any
) -> None:
    from docx import Document
    from openpyxl import load_workbook
    from pypdf import PdfReader

    page = browser.new_context(locale="vi-VN", accept_downloads=True).new_page()
    log_in(page, installation.url, "chutri", installation.passwords["chutri"])
    page.click(f"a:text-is('{HELD}')")
    page.wait_for_url(re.compile(r".*/meetings/\d+/$"))

    # Minutes: fill the summary, finalise, download both files.
    page.click("a[href*='/minutes/']")
    page.fill(
        "textarea[name=conclusions]", "Các công đoàn cơ sở triển khai nghị quyết trong tháng."
    )
    page.fill("input[name=chair_name]", "Nguyễn Văn Ánh")
    page.click(
        "form:not([action]) button[type=submit], form[method=post]:has(textarea) button[type=submit]"
    )
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#finalise")
    page.wait_for_selector(".badge.ended")
    docx = Document(io.BytesIO(_download(page, "a[href$='v1.docx']")))
    words = "\n".join(c.text for t in docx.tables for row in t.rows for c in row.cells)
    words += "\n".join(p.text for p in docx.paragraphs)
    assert "Cao su Đồng Nai" in words and "Nguyễn Văn Ánh" in words
    assert "Các công đoàn cơ sở triển khai nghị quyết trong tháng." in words
    pdf = PdfReader(io.BytesIO(_download(page, "a[href$='v1.pdf']")))
    text = " ".join(" ".join(p.extract_text().split()) for p in pdf.pages)
    assert "Cao su Đồng Nai" in text and "Thống nhất triển khai nghị quyết" in text

    # Savings report of this meeting: Excel and PDF with the same total as the page.
    page.go_back()
    page.goto(page.url.split("/minutes/")[0] + "/meetings/")
    page.click(f"a:text-is('{HELD}')")
    page.click("a[href*='/reports/meetings/']")
    page.wait_for_selector("a[href$='savings.xlsx']")
    shown = page.inner_text("main")
    totals = re.findall(r"\d{1,3}(?:\.\d{3})+ ₫", shown)
    assert totals, shown[:500]
    workbook = load_workbook(io.BytesIO(_download(page, "a[href$='savings.xlsx']")))
    cells = " ".join(
        str(c.value)
        for ws in workbook.worksheets
        for row in ws.iter_rows()
        for c in row
        if c.value is not None
    )
    assert "Cao su Đồng Nai" in cells
    report = PdfReader(io.BytesIO(_download(page, "a[href$='savings.pdf']")))
    report_text = " ".join(" ".join(p.extract_text().split()) for p in report.pages)
    assert any(t in report_text for t in totals), (totals, report_text[:500])

    # The dashboard: cumulative savings with charts.
    page.goto(installation.url + "/reports/")
    assert page.locator("svg.chart").count() >= 1
    assert re.search(r"\d{1,3}(?:\.\d{3})+ ₫", page.inner_text("main"))
