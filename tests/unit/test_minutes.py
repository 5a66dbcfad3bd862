"""Minutes: made from the persisted record, editable until finalised, then locked and
versioned; Word and PDF files that a union office can file, Vietnamese intact."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from diemcau.accounts.models import Role
from diemcau.live import services as live
from diemcau.live.services import Actor
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.minutes import services
from diemcau.minutes.models import Minutes
from tests.conftest import MakeUser, Org


@pytest.fixture
def held(meeting: Meeting, org: Org, make_user: MakeUser) -> Meeting:
    """A meeting that ran: joins, a roll call, a speaker, a vote, chat — then the app died
    (no end, connections never closed): everything was already written when it happened."""
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.LIVE)
    chair = Actor(meeting.pk, org.main.pk, hq=True, user=make_user(Role.CHAIR), chair=True)
    a, b = Actor(meeting.pk, org.site_a.pk, hq=False), Actor(meeting.pk, org.site_b.pk, hq=False)
    live.site_connected(chair)
    _event, row = live.site_connected(a)
    live.site_disconnected(a, row, dropped=True)
    live.site_connected(a)
    live.open_roll_call(chair)
    live.answer_roll_call(a, 27)
    live.request_floor(a, "Báo cáo sản lượng mủ")
    live.grant_floor(chair, site_id=org.site_a.pk)
    live.open_vote(
        chair, "Thông qua nghị quyết", options=["Tán thành", "Không tán thành"], quorum_percent=0
    )
    live.cast_vote(a, choice="Tán thành")
    live.send_chat(a, "Đề nghị gửi tài liệu trước")
    # b never joined: absent.
    assert b.site_id is not None
    meeting.refresh_from_db()
    return meeting


def test_minutes_after_a_crash_list_every_join_roll_call_and_vote(held: Meeting) -> None:
    from diemcau.minutes.selectors import build

    record = build(held)
    by_code = {s["code"]: s for s in record["sites"]}
    assert len(by_code["CSDN"]["connections"]) == 2
    assert by_code["CSDN"]["connections"][0]["how"] == "dropped"
    assert by_code["CSDN"]["delegates"] == [27]
    assert not by_code["CSDT"]["present"] and "Cao su Dầu Tiếng" in record["totals"]["absent"]
    assert record["roll_calls"][0]["delegates_present"] == 27
    assert record["speakers"][0]["topic"] == "Báo cáo sản lượng mủ"
    assert record["votes"][0]["tally"] == {"Tán thành": 1, "Không tán thành": 0}
    assert record["chat"][0]["text"] == "Đề nghị gửi tài liệu trước"


def test_finalised_minutes_are_locked_and_corrections_are_new_versions(held: Meeting) -> None:
    minutes = services.current(held)
    services.save_draft(
        minutes, {"conclusions": "Thống nhất triển khai", "chair_name": "Nguyễn Văn A"}
    )
    final = services.finalise(minutes, None)
    assert final.record is not None and final.final
    with pytest.raises(ValidationError):
        services.save_draft(final, {"conclusions": "sửa"})
    # Later activity does not change the finalised record.
    live.send_chat(Actor(held.pk, held.main_site_id, hq=True, chair=True), "Tin nhắn sau khi chốt")
    assert all(c["text"] != "Tin nhắn sau khi chốt" for c in services.record_of(final)["chat"])
    second = services.new_version(final)
    assert (
        second.version == 2 and second.conclusions == "Thống nhất triển khai" and not second.final
    )
    assert Minutes.objects.filter(meeting=held).count() == 2


def test_word_file_has_the_administrative_layout_and_vietnamese_text(held: Meeting) -> None:
    from docx import Document

    from diemcau.minutes import documents
    from diemcau.minutes import selectors as record

    minutes = services.save_draft(
        services.current(held), {"chair_name": "Nguyễn Văn Ánh", "document_number": "05/BB-CĐCS"}
    )
    data = documents.to_docx(record.build(held), services.fields_of(minutes), 1, final=True)
    doc = Document(io.BytesIO(data))
    text = "\n".join(p.text for p in doc.paragraphs)
    cells = "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells)
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in cells and "Độc lập - Tự do - Hạnh phúc" in cells
    assert "CÔNG ĐOÀN CAO SU VIỆT NAM" in cells and "05/BB-CĐCS" in cells
    assert "Hội nghị thông báo nhanh" in text
    assert "Cao su Đồng Nai" in cells and "Báo cáo sản lượng mủ" in cells
    assert "Nguyễn Văn Ánh" in cells


def test_pdf_file_renders_vietnamese_and_the_totals(held: Meeting) -> None:
    from pypdf import PdfReader

    from diemcau.minutes import documents
    from diemcau.minutes import selectors as record

    data = documents.to_pdf(
        record.build(held), services.fields_of(services.current(held)), 1, final=False
    )
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Cao su Đồng Nai",
        "Thông qua nghị quyết",
        "27",
    ):
        assert expected in text, expected


def test_site_operator_downloads_only_finalised_minutes_of_its_meetings(
    client: Client, held: Meeting, org: Org, make_user: MakeUser
) -> None:
    client.force_login(make_user(Role.SITE_OPERATOR, org.site_a))
    url = reverse("minutes:download", args=[held.pk, 1, "pdf"])
    services.current(held)
    assert client.get(url).status_code == 404  # still a draft
    assert client.get(reverse("minutes:edit", args=[held.pk])).status_code == 403
    services.finalise(services.current(held), None)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    # A site not invited to the meeting cannot see it at all.
    other = Meeting.objects.create(title="Khác", start=held.start, end=held.end, main_site=org.main)
    services.finalise(services.current(other), None)
    assert client.get(reverse("minutes:download", args=[other.pk, 1, "pdf"])).status_code == 404


def test_chair_edits_finalises_and_downloads_from_the_pages(
    client: Client, held: Meeting, make_user: MakeUser
) -> None:
    client.force_login(make_user(Role.CHAIR))
    page = client.get(reverse("minutes:edit", args=[held.pk]))
    assert page.status_code == 200 and "Báo cáo sản lượng mủ" in page.content.decode()
    client.post(
        reverse("minutes:edit", args=[held.pk]),
        {"conclusions": "Kết luận của chủ trì", "secretary_name": "Trần Thị B"},
    )
    client.post(reverse("minutes:action", args=[held.pk, "finalise"]))
    minutes = Minutes.objects.get(meeting=held)
    assert minutes.final and minutes.conclusions == "Kết luận của chủ trì"
    docx = client.get(reverse("minutes:download", args=[held.pk, 1, "docx"]))
    assert docx.status_code == 200 and docx.content[:2] == b"PK"
