"""Directives: HQ sends, each site confirms receipt for itself only, HQ sees who has not."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from diemcau.accounts.models import Role
from diemcau.directives import services
from diemcau.directives.models import Directive, DirectiveRecipient
from diemcau.meetings import joinlinks
from diemcau.meetings.models import Meeting
from tests.conftest import MakeUser, Org
from tests.support import officefiles


def _send(org: Org, meeting: Meeting | None = None) -> Directive:
    return services.issue_directive(
        title="Triển khai Nghị quyết Đại hội",
        number="12/CĐCS",
        body="Các đơn vị triển khai trước 15/12.",
        upload=SimpleUploadedFile("nq.pdf", officefiles.pdf()),
        meeting=meeting,
        sites=set() if meeting else {org.site_a, org.site_b},
        by=None,
    )


def test_a_directive_with_a_meeting_goes_to_its_invited_sites(meeting: Meeting, org: Org) -> None:
    directive = _send(org, meeting)
    assert set(directive.recipients.values_list("site__code", flat=True)) == {"HQ", "CSDN", "CSDT"}


def test_site_operator_confirms_for_its_own_site_only(
    client: Client, org: Org, make_user: MakeUser
) -> None:
    directive = _send(org)
    client.force_login(make_user(Role.SITE_OPERATOR, org.site_a))
    assert client.post(reverse("directives:directive_ack", args=[directive.pk])).status_code == 302
    acknowledged = dict(directive.recipients.values_list("site__code", "acknowledged_at"))
    assert acknowledged["CSDN"] is not None and acknowledged["CSDT"] is None


def test_site_operator_cannot_see_a_directive_not_sent_to_its_site(
    client: Client, org: Org, make_user: MakeUser
) -> None:
    directive = services.issue_directive(
        title="Chỉ Dầu Tiếng",
        number="",
        body="",
        upload=None,
        meeting=None,
        sites={org.site_b},
        by=None,
    )
    client.force_login(make_user(Role.SITE_OPERATOR, org.site_a))
    assert client.get(reverse("directives:directive", args=[directive.pk])).status_code == 404
    assert client.get(reverse("directives:directive_file", args=[directive.pk])).status_code == 404
    assert client.post(reverse("directives:directive_ack", args=[directive.pk])).status_code == 403
    assert "Chỉ Dầu Tiếng" not in client.get(reverse("directives:directives")).content.decode()
    assert client.get(reverse("directives:directive_create")).status_code == 403


def test_hq_sees_who_has_not_confirmed_and_reminds_only_them(
    client: Client, org: Org, make_user: MakeUser
) -> None:
    directive = _send(org)
    services.acknowledge_directive(directive.recipients.get(site=org.site_a), None)
    client.force_login(make_user(Role.HQ_OPERATOR))
    page = client.get(reverse("directives:directive", args=[directive.pk])).content.decode()
    assert "CSDN" in page and "CSDT" in page
    client.post(reverse("directives:directive_remind", args=[directive.pk]))
    reminders = dict(directive.recipients.values_list("site__code", "reminders"))
    assert reminders == {"CSDN": 0, "CSDT": 1}
    listing = client.get(reverse("directives:directives")).content.decode()
    assert "1/2" in listing


def test_room_pc_confirms_with_its_join_link_session_for_its_site_only(
    client: Client, meeting: Meeting, org: Org
) -> None:
    directive = _send(org, meeting)
    invitation = meeting.invitations.select_related("site", "meeting").get(site=org.site_a)
    page = client.get(joinlinks.join_path(invitation)).content.decode()
    assert "Triển khai Nghị quyết Đại hội" in page
    mine = directive.recipients.get(site=org.site_a)
    other = directive.recipients.get(site=org.site_b)
    ack = "directives:directive_ack_room"
    assert client.post(reverse(ack, args=[meeting.pk, other.pk])).status_code == 403
    assert client.post(reverse(ack, args=[meeting.pk, mine.pk])).status_code == 204
    assert DirectiveRecipient.objects.get(pk=mine.pk).acknowledged_at is not None
    assert DirectiveRecipient.objects.get(pk=other.pk).acknowledged_at is None
    assert Client().post(reverse(ack, args=[meeting.pk, mine.pk])).status_code == 403


def test_directive_file_is_type_checked(org: Org) -> None:
    import pytest
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.issue_directive(
            title="x",
            number="",
            body="",
            upload=SimpleUploadedFile("virus.pdf", b"MZ\x90\x00"),
            meeting=None,
            sites={org.site_a},
            by=None,
        )
    assert not Directive.objects.exists()
