"""What users typed cannot break an exported file or turn it into an attack (issue 11, item
10): control characters in Word, Excel and PDF; formulas in Excel; markup in PDF."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import Workbook, load_workbook
from pypdf import PdfReader

from diemcau import exportsafety
from diemcau.accounts.models import Role
from diemcau.live import services as live
from diemcau.live.actions import Actor
from diemcau.live.models import ChatMessage, FloorRequest
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.minutes import documents
from diemcau.minutes import selectors as minutes_record
from diemcau.minutes import services as minutes
from diemcau.reports import exports
from diemcau.reports import selectors as reports
from tests.conftest import MakeUser, Org
from tests.unit.test_reports_selectors import make_held

CONTROL = "Đề nghị\x00 gửi\x0b tài liệu\x1b[31m trước\x07"
# A chat row kept before typed text was cleaned on the way in (PostgreSQL holds every
# control character but NUL): the exports clean it again.
KEPT = "Ghi cũ\x01 có\x1b ký tự\x08 lạ\x0c"
MARKUP = '<b>unclosed <img src="/etc/passwd"/> & <font color=red>'
FORMULAS = ('=HYPERLINK("http://x.test","bấm")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1")


@pytest.fixture
def typed(meeting: Meeting, org: Org, make_user: MakeUser) -> Meeting:
    """A meeting where a site typed control characters and markup in the chat and floor."""
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.LIVE)
    chair = Actor(meeting.pk, org.main.pk, hq=True, user=make_user(Role.CHAIR), chair=True)
    site = Actor(meeting.pk, org.site_a.pk, hq=False)
    live.site_connected(chair)
    live.site_connected(site)
    live.request_floor(site, "Báo cáo\x1b sản lượng\x00 " + MARKUP)
    live.send_chat(site, CONTROL)
    live.send_chat(site, MARKUP)
    ChatMessage.objects.create(meeting=meeting, site=org.site_a, text=KEPT, sent_at=meeting.start)
    meeting.refresh_from_db()
    return meeting


def _pdf_text(body: bytes) -> str:
    """The PDF's text without whitespace (table cells wrap long words anywhere)."""
    text = "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages)
    return _squash(text)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _has_image(body: bytes) -> bool:
    for page in PdfReader(io.BytesIO(body)).pages:
        resources = page.get("/Resources") or {}
        xobjects = resources.get("/XObject") or {}
        if any(xobjects[name].get("/Subtype") == "/Image" for name in xobjects):
            return True
    return False


def _png(path: Path) -> Path:
    """A 1×1 PNG: a local image that markup in a name could pull into a PDF."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return path


# --- the helpers ---------------------------------------------------------------------------


def test_xml_text_drops_what_xml_cannot_hold_and_keeps_vietnamese() -> None:
    assert exportsafety.xml_text("Cao su\x00 Đồng\x1b Nai\ufffe") == "Cao su Đồng Nai"
    assert exportsafety.xml_text("dòng 1\x0bdòng 2\x0c") == "dòng 1\ndòng 2\n"
    assert exportsafety.xml_text("tab\tline\nret\r") == "tab\tline\nret\r"
    assert exportsafety.xml_text("lẻ \ud800 cặp") == "lẻ  cặp"
    assert exportsafety.xml_text("😀 ∑") == "😀 ∑"


def test_pdf_markup_shows_tags_as_text() -> None:
    assert exportsafety.pdf_markup('<img src="/etc/passwd"/> & \x00') == (
        '&lt;img src="/etc/passwd"/&gt; &amp; '
    )


@pytest.mark.parametrize("text", FORMULAS)
def test_text_that_looks_like_a_formula_is_written_as_text(text: str) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    exportsafety.append_row(ws, ["", text, 12, None])
    out = io.BytesIO()
    wb.save(out)
    cell = load_workbook(io.BytesIO(out.getvalue())).active["B1"]  # type: ignore[index]
    assert cell.data_type == "s"
    assert cell.value == text  # no apostrophe in the value: the user sees what was typed
    assert cell.quotePrefix


# --- on the way in ------------------------------------------------------------------------


def test_typed_text_is_kept_without_control_characters(typed: Meeting) -> None:
    """A NUL in a chat message or a floor topic was a server error on PostgreSQL, which
    cannot store one: what a page types loses its control characters before it is kept."""
    texts = list(ChatMessage.objects.filter(meeting=typed).values_list("text", flat=True))
    assert "Đề nghị gửi\n tài liệu[31m trước" in texts
    topic = FloorRequest.objects.get(meeting=typed).topic
    assert topic == "Báo cáo sản lượng " + MARKUP


# --- minutes ------------------------------------------------------------------------------


def test_minutes_docx_with_control_characters_in_chat_and_topic_is_written(
    typed: Meeting,
) -> None:
    from docx import Document

    record = minutes_record.build(typed)
    body = documents.to_docx(record, minutes.fields_of(minutes.current(typed)), 1, final=False)
    doc = Document(io.BytesIO(body))
    text = "\n".join(p.text for p in doc.paragraphs) + "\n".join(
        c.text for t in doc.tables for r in t.rows for c in r.cells
    )
    assert "Đề nghị gửi\n tài liệu[31m trước" in text
    assert "Báo cáo sản lượng " + MARKUP in text
    assert "Ghi cũ có ký tự lạ" in text


@pytest.mark.parametrize("fmt", ["docx", "pdf"])
def test_minutes_download_with_control_characters_is_not_a_server_error(
    client: Client, typed: Meeting, make_user: MakeUser, fmt: str
) -> None:
    client.force_login(make_user(Role.CHAIR))
    minutes.current(typed)
    response = client.get(reverse("minutes:download", args=[typed.pk, 1, fmt]))
    assert response.status_code == 200


def test_minutes_pdf_shows_markup_in_chat_as_text(typed: Meeting, tmp_path: Path) -> None:
    image = _png(tmp_path / "local.png")
    live.send_chat(
        Actor(typed.pk, typed.main_site_id, hq=True, chair=True),
        f'<img src="{image}" width="40" height="40"/>',
    )
    record = minutes_record.build(typed)
    body = documents.to_pdf(record, minutes.fields_of(minutes.current(typed)), 1, final=False)
    text = _pdf_text(body)
    assert _squash(MARKUP) in text and _squash(f'<img src="{image}"') in text
    assert not _has_image(body)


# --- reports ------------------------------------------------------------------------------


def test_report_xlsx_keeps_formula_like_names_and_titles_as_text(org: Org) -> None:
    held = make_held(org)
    held.far.name = FORMULAS[0]
    held.far.save()
    held.laos.name = "@SUM(1+1)"
    held.laos.save()
    held.meeting.title = "=1+1 Hội nghị"
    held.meeting.save()
    ws = load_workbook(io.BytesIO(exports.meeting_xlsx(reports.meeting_report(held.meeting))))
    sheet = ws.worksheets[0]
    cells = {c.value: c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)}
    for value in (FORMULAS[0], "@SUM(1+1)"):
        assert cells[value].data_type == "s" and cells[value].quotePrefix, value
    title = sheet["A1"]
    assert title.data_type == "s" and title.quotePrefix
    assert str(title.value).startswith("=1+1 Hội nghị —")


def test_report_xlsx_with_control_characters_is_written(org: Org) -> None:
    held = make_held(org)
    held.laos.name = "Cao su\x01 Việt\x1b Lào"
    held.laos.save()
    held.meeting.title = "Hội nghị\x0b thông báo"
    held.meeting.save()
    ws = load_workbook(io.BytesIO(exports.meeting_xlsx(reports.meeting_report(held.meeting))))
    values = {c.value for row in ws.worksheets[0].iter_rows() for c in row}
    assert "Cao su Việt Lào" in values
    assert str(ws.worksheets[0]["A1"].value).startswith("Hội nghị\n thông báo")


def test_report_pdf_shows_unclosed_markup_in_names_as_text(org: Org) -> None:
    held = make_held(org)
    held.far.name = "<b>unclosed & <i>"
    held.far.save()
    held.meeting.title = "Hội nghị <font name=Courier>\x01"
    held.meeting.save()
    text = _pdf_text(exports.meeting_pdf(reports.meeting_report(held.meeting)))
    assert _squash("<b>unclosed & <i>") in text
    assert _squash("Hội nghị <font name=Courier>") in text


def test_report_pdf_embeds_no_local_image_named_in_a_site_name(org: Org, tmp_path: Path) -> None:
    image = _png(tmp_path / "local.png")
    held = make_held(org)
    held.laos.name = f'<img src="{image}" width="40" height="40"/>'
    held.laos.save()
    body = exports.meeting_pdf(reports.meeting_report(held.meeting))
    assert _squash(f'<img src="{image}"') in _pdf_text(body)
    assert not _has_image(body)
