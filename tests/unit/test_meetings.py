from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from diemcau.accounts.models import Role
from diemcau.live import lifecycle
from diemcau.meetings import joinlinks, services
from diemcau.meetings.ics import invitation_ics
from diemcau.meetings.models import Meeting, MeetingStatus
from tests.conftest import MakeUser, Org
from tests.support import officefiles


def test_main_site_is_always_invited(meeting: Meeting, org: Org) -> None:
    codes = set(meeting.invitations.values_list("site__code", flat=True))
    assert codes == {"HQ", "CSDN", "CSDT"}


def test_inviting_a_unit_invites_its_sub_units_sites(org: Org) -> None:
    sites = services.invited_sites(all_sites=False, units=[org.hq])
    assert {s.code for s in sites} == {"HQ", "CSDN", "CSDT"}
    sites = services.invited_sites(all_sites=False, units=[org.corp])
    assert {s.code for s in sites} == {"CSDN"}


def test_inactive_sites_are_not_invited_by_all(org: Org) -> None:
    org.site_b.active = False
    org.site_b.save()
    assert "CSDT" not in {s.code for s in services.invited_sites(all_sites=True)}


def test_reinviting_keeps_existing_join_links(meeting: Meeting, org: Org) -> None:
    nonce = meeting.invitations.get(site=org.site_a).nonce
    services.save_meeting(meeting, sites={org.site_a}, agenda=None, by=None)
    assert meeting.invitations.get(site=org.site_a).nonce == nonce
    assert not meeting.invitations.filter(site=org.site_b).exists()


def test_meeting_end_before_start_is_refused(org: Org) -> None:
    start = timezone.now()
    with pytest.raises(ValidationError):
        services.save_meeting(
            Meeting(title="x", start=start, end=start - timedelta(minutes=1), main_site=org.main),
            sites=set(),
            agenda=None,
            by=None,
        )
    assert Meeting.objects.count() == 0


def test_only_a_scheduled_meeting_can_be_cancelled(meeting: Meeting) -> None:
    services.cancel_meeting(meeting)
    with pytest.raises(ValidationError):
        services.cancel_meeting(meeting)


def test_ended_meeting_cannot_be_started(meeting: Meeting) -> None:
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.ENDED)
    with pytest.raises(ValidationError):
        lifecycle.start_meeting(meeting)


def test_ics_has_utc_times_and_the_join_link(meeting: Meeting) -> None:
    inv = meeting.invitations.select_related("site", "meeting").get(site__code="CSDN")
    body = invitation_ics(inv, "https://hq.example/join/1/CSDN/abc/", "hq.example")
    assert body.startswith("BEGIN:VCALENDAR\r\n")
    assert meeting.start.astimezone(UTC).strftime("DTSTART:%Y%m%dT%H%M%SZ") in body
    unfolded = body.replace("\r\n ", "")
    assert "https://hq.example/join/1/CSDN/abc/" in unfolded
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))


@pytest.mark.parametrize(
    ("name", "content", "ok"),
    [
        # Real files: documents are also checked by their structure (test_uploads_safety).
        ("agenda.pdf", officefiles.pdf(), True),
        ("slides.pptx", officefiles.pptx(), True),
        ("renamed.pdf", b"MZ\x90\x00 an exe", False),
        ("script.exe", b"MZ\x90\x00", False),
        ("photo.docx", b"\x89PNG\r\n", False),
    ],
)
def test_documents_are_type_checked_by_content(
    meeting: Meeting, name: str, content: bytes, ok: bool
) -> None:
    upload = SimpleUploadedFile(name, content)
    if ok:
        doc = services.add_document(meeting, upload, "", None)
        assert doc.size == len(content)
    else:
        with pytest.raises(ValidationError):
            services.add_document(meeting, upload, "", None)
        assert meeting.documents.count() == 0


def test_document_over_size_limit_is_refused(meeting: Meeting, settings: object) -> None:
    settings.DOCUMENT_MAX_BYTES = 10  # type: ignore[attr-defined]
    with translation.override("en"), pytest.raises(ValidationError, match="limit"):
        services.add_document(meeting, SimpleUploadedFile("a.pdf", b"%PDF-" + b"x" * 20), "", None)
    assert meeting.documents.count() == 0


# --- who may see what ------------------------------------------------------------------


def test_site_operator_sees_only_meetings_of_its_site(
    client: Client, meeting: Meeting, org: Org, make_user: MakeUser
) -> None:
    other = services.save_meeting(
        Meeting(title="Chỉ Dầu Tiếng", start=meeting.start, end=meeting.end, main_site=org.main),
        sites={org.site_b},
        agenda=None,
        by=None,
    )
    client.force_login(make_user(Role.SITE_OPERATOR, org.site_a))
    listing = client.get(reverse("meetings:list")).content.decode()
    assert meeting.title in listing and other.title not in listing
    assert client.get(reverse("meetings:detail", args=[other.pk])).status_code == 404


def test_site_operator_sees_only_its_own_join_link(
    client: Client, meeting: Meeting, org: Org, make_user: MakeUser
) -> None:
    client.force_login(make_user(Role.SITE_OPERATOR, org.site_a))
    page = client.get(reverse("meetings:detail", args=[meeting.pk])).content.decode()
    assert f"/join/{meeting.pk}/CSDN/" in page
    assert f"/join/{meeting.pk}/CSDT/" not in page
    assert client.get(reverse("meetings:ics", args=[meeting.pk, "CSDT"])).status_code == 403
    assert client.get(reverse("meetings:ics", args=[meeting.pk, "CSDN"])).status_code == 200


def _room_links(text: str) -> list[str]:
    """The site codes whose room page a token found in `text` opens (any /join/ URL,
    delegates' included: a token is tried with the room's salt whatever its path)."""
    opened = []
    for meeting_id, site_code, token in re.findall(
        r"/join/(\d+)/([^/]+)/(?:d/)?([^/\s\"<]+)/", text
    ):
        try:
            joinlinks.verify(token, int(meeting_id), site_code)
        except joinlinks.JoinLinkError:
            continue
        opened.append(site_code)
    return opened


@pytest.mark.parametrize(
    ("role", "sees"), [(Role.SITE_OPERATOR, True), (Role.DELEGATE, False), (Role.HQ_OPERATOR, True)]
)
def test_room_join_link_is_shown_only_to_hq_and_the_sites_operator(
    client: Client, meeting: Meeting, org: Org, make_user: MakeUser, role: Role, sees: bool
) -> None:
    """The room link makes a browser the site's room PC: a delegate account bound to the
    site follows and votes from the delegates' link, it never gets the room's."""
    client.force_login(make_user(role, org.site_a))
    page = client.get(reverse("meetings:detail", args=[meeting.pk])).content.decode()
    listing = client.get(reverse("meetings:list")).content.decode()
    ics = client.get(reverse("meetings:ics", args=[meeting.pk, "CSDN"]))
    assert ("CSDN" in _room_links(page)) is sees
    assert _room_links(listing) == []
    assert ics.status_code == (200 if sees else 403)
    assert _room_links(ics.content.decode().replace("\r\n ", "")) == (["CSDN"] * 2 if sees else [])
    # The delegates' phone link stays on the page for everyone of the site.
    assert f"/join/{meeting.pk}/CSDN/d/" in page


def test_site_operator_cannot_schedule_start_or_revoke(
    client: Client, meeting: Meeting, org: Org, make_user: MakeUser
) -> None:
    client.force_login(make_user(Role.SITE_OPERATOR, org.site_a))
    assert client.get(reverse("meetings:create")).status_code == 403
    assert (
        client.post(reverse("live:meeting_action", args=[meeting.pk, "cancel"])).status_code == 403
    )
    assert client.post(reverse("meetings:revoke", args=[meeting.pk, "CSDT"])).status_code == 403
    meeting.refresh_from_db()
    assert meeting.status == MeetingStatus.SCHEDULED


def test_chair_schedules_a_meeting_from_the_form(
    client: Client, org: Org, make_user: MakeUser
) -> None:
    client.force_login(make_user(Role.CHAIR))
    response = client.post(
        reverse("meetings:create"),
        {
            "kind": "briefing",
            "format": "online",
            "title": "Thông báo nhanh kết quả Đại hội",
            "start": "2026-12-01T08:00",
            "end": "2026-12-01T10:30",
            "main_site": org.main.pk,
            "invite_units": [org.corp.pk],
            "agenda_text": "Khai mạc | Chủ tịch | 10\nThông báo kết quả",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    m = Meeting.objects.get(title__startswith="Thông báo nhanh")
    assert set(m.invitations.values_list("site__code", flat=True)) == {"HQ", "CSDN"}
    assert [a.title for a in m.agenda.all()] == ["Khai mạc", "Thông báo kết quả"]
    # Entered in Vietnam time (UTC+7), stored in UTC.
    assert timezone.localtime(m.start).hour == 8 and m.start.astimezone(UTC).hour == 1


def test_bad_agenda_line_names_the_line(client: Client, org: Org, make_user: MakeUser) -> None:
    client.force_login(make_user(Role.CHAIR))
    response = client.post(
        reverse("meetings:create"),
        {
            "kind": "other",
            "format": "online",
            "title": "x",
            "start": "2026-12-01T08:00",
            "end": "2026-12-01T09:00",
            "main_site": org.main.pk,
            "agenda_text": "Ok\nBad | who | ten",
        },
    )
    assert response.status_code == 200
    assert "2" in response.context["form"].errors["agenda_text"][0]
    assert Meeting.objects.count() == 0


def test_new_meeting_form_proposes_the_main_site_and_tomorrow_morning(
    client: Client, org: Org, make_user: MakeUser
) -> None:
    client.force_login(make_user(Role.CHAIR))
    form = client.get(reverse("meetings:create")).context["form"]
    assert form.initial["main_site"] == org.main.pk
    start = timezone.localtime(form.initial["start"])
    assert (start.date() - timezone.localdate()).days == 1 and start.hour == 8


def test_times_are_entered_day_first(client: Client, org: Org, make_user: MakeUser) -> None:
    client.force_login(make_user(Role.CHAIR))
    response = client.post(
        reverse("meetings:create"),
        {
            "kind": "seminar",
            "format": "hybrid",
            "title": "Hội thảo",
            "start": "02/12/2026 14:00",
            "end": "02/12/2026 16:00",
            "main_site": org.main.pk,
        },
    )
    assert response.status_code == 302
    m = Meeting.objects.get(title="Hội thảo")
    local = timezone.localtime(m.start)
    assert (local.day, local.month, local.hour) == (2, 12, 14)
