from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from diemcau.meetings import joinlinks, services
from diemcau.meetings.models import Invitation, Meeting
from tests.conftest import Org


def _invitation(meeting: Meeting, site_code: str) -> Invitation:
    return meeting.invitations.select_related("site", "meeting").get(site__code=site_code)


def test_join_link_opens_the_room_page_for_its_site(client: Client, meeting: Meeting) -> None:
    inv = _invitation(meeting, "CSDN")
    response = client.get(joinlinks.join_path(inv))
    assert response.status_code == 200
    assert "Cao su Đồng Nai" in response.content.decode()


def test_join_link_for_other_site_is_refused(client: Client, meeting: Meeting) -> None:
    token = joinlinks.make_token(_invitation(meeting, "CSDN"))
    url = reverse(
        "live:join", kwargs={"meeting_id": meeting.pk, "site_code": "CSDT", "token": token}
    )
    response = client.get(url)
    assert response.status_code == 403
    with pytest.raises(joinlinks.JoinLinkError) as err:
        joinlinks.verify(token, meeting.pk, "CSDT")
    assert err.value.code == "wrong_site"


def test_join_link_for_other_meeting_is_refused(meeting: Meeting, org: Org) -> None:
    other = services.save_meeting(
        Meeting(title="Khác", start=meeting.start, end=meeting.end, main_site=org.main),
        sites={org.site_a},
        agenda=None,
        by=None,
    )
    token = joinlinks.make_token(_invitation(meeting, "CSDN"))
    with pytest.raises(joinlinks.JoinLinkError) as err:
        joinlinks.verify(token, other.pk, "CSDN")
    assert err.value.code == "wrong_meeting"


def test_join_link_after_expiry_is_refused(client: Client, meeting: Meeting) -> None:
    inv = _invitation(meeting, "CSDN")
    token = joinlinks.make_token(inv)
    after = joinlinks.expiry_for(inv) + timedelta(seconds=1)
    with pytest.raises(joinlinks.JoinLinkError) as err:
        joinlinks.verify(token, meeting.pk, "CSDN", now=after)
    assert err.value.code == "expired"
    # Still valid a second before.
    joinlinks.verify(token, meeting.pk, "CSDN", now=after - timedelta(seconds=2))


def test_edited_join_token_is_refused(meeting: Meeting) -> None:
    token = joinlinks.make_token(_invitation(meeting, "CSDN"))
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(joinlinks.JoinLinkError) as err:
        joinlinks.verify(tampered, meeting.pk, "CSDN")
    assert err.value.code == "bad_signature"


def test_revoked_join_link_stops_working(meeting: Meeting) -> None:
    inv = _invitation(meeting, "CSDN")
    old = joinlinks.make_token(inv)
    services.revoke_join_link(inv)
    with pytest.raises(joinlinks.JoinLinkError) as err:
        joinlinks.verify(old, meeting.pk, "CSDN")
    assert err.value.code == "revoked"
    assert joinlinks.verify(joinlinks.make_token(inv), meeting.pk, "CSDN").pk == inv.pk


def test_join_link_of_cancelled_meeting_is_refused(meeting: Meeting) -> None:
    token = joinlinks.make_token(_invitation(meeting, "CSDN"))
    services.cancel_meeting(meeting)
    with pytest.raises(joinlinks.JoinLinkError) as err:
        joinlinks.verify(token, meeting.pk, "CSDN")
    assert err.value.code == "cancelled"


def test_site_not_invited_has_no_join_link(meeting: Meeting, org: Org) -> None:
    services.save_meeting(meeting, sites={org.site_a}, agenda=None, by=None)
    token = joinlinks.make_token(_invitation(meeting, "CSDN"))
    with pytest.raises(joinlinks.JoinLinkError):
        joinlinks.verify(token, meeting.pk, "CSDT")
