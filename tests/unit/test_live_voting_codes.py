"""One delegate, one vote (issue 11, item 6): personal voting codes for individual votes,
their printable sheet, and roll-call answers far above a site's expected delegates held
for HQ. Docs: docs/live.md ("Voting codes", "Roll call")."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.urls import reverse

from diemcau.accounts.models import Role
from diemcau.live import consumers, services, votingcodes
from diemcau.live.actions import ALREADY_DONE, NOT_ALLOWED, NOT_NOW
from diemcau.live.models import Ballot, Motion, VotingCode
from diemcau.live.services import Actor, Refused
from diemcau.live.state import build
from diemcau.meetings import joinlinks
from diemcau.meetings import services as meeting_services
from diemcau.meetings.models import Invitation, Meeting, MeetingStatus
from tests.conftest import MakeUser, Org


def _invitation(meeting: Meeting, site_code: str) -> Invitation:
    return meeting.invitations.select_related("meeting", "site").get(site__code=site_code)


def _codes(meeting: Meeting, site_code: str) -> list[str]:
    return [card.text for card in votingcodes.codes_for(_invitation(meeting, site_code))]


class Phone:
    """A fresh browser session on a site's delegate link (as a phone with cleared cookies)."""

    def __init__(self, meeting: Meeting, site_code: str) -> None:
        self.meeting = meeting
        self.link = joinlinks.delegate_path(_invitation(meeting, site_code))
        # The messages are checked in English (Vietnamese is the default language).
        self.browser = Client(headers={"accept-language": "en"})
        assert self.browser.get(self.link).status_code == 200

    def enter(self, code: str) -> str:
        """Send the code form; the page's text after it (the error, or the code in use)."""
        response = self.browser.post(self.link, {"code": code}, follow=True)
        assert response.status_code == 200
        return response.content.decode()

    def actor(self) -> Actor:
        """Who this session's control socket acts as (the consumer's own check)."""
        session = SessionStore(self.browser.cookies["sessionid"].value)
        actor = consumers.resolve_actor({"session": session}, self.meeting.pk, "delegate")
        assert actor is not None and actor.voter
        return actor

    def vote(self, choice: str) -> Refused | None:
        try:
            services.cast_vote(self.actor(), choice=choice)
        except Refused as refused:
            return refused
        return None


def _individual_vote(chair: Actor, site: Actor, present: int = 10) -> None:
    services.open_roll_call(chair)
    services.answer_roll_call(site, present)
    services.open_vote(chair, "Bầu cá nhân", options=["Có", "Không"], counting="individual")


def site(live: Meeting, site_pk: int) -> Actor:
    return Actor(live.pk, site_pk, hq=False)


# --- one code, one vote ------------------------------------------------------------------


def test_five_fresh_sessions_with_one_code_get_one_vote(
    live: Meeting, org: Org, chair: Actor
) -> None:
    _individual_vote(chair, site(live, org.site_a.pk))
    code = _codes(live, "CSDN")[0]
    phones = [Phone(live, "CSDN") for _ in range(5)]
    pages = [phone.enter(code) for phone in phones]
    refusals = [phone.vote("Có") for phone in phones]

    assert Ballot.objects.filter(motion__meeting=live).count() == 1
    assert refusals[0] is None
    assert all(r is not None and r.code == NOT_ALLOWED for r in refusals[1:])
    # The other four were told why at the form, and what to do.
    for page in pages[1:]:
        assert "already in use on another phone" in page and "operator" in page


def test_two_codes_give_two_votes(live: Meeting, org: Org, chair: Actor) -> None:
    _individual_vote(chair, site(live, org.site_a.pk))
    first, second = _codes(live, "CSDN")[:2]
    one, two = Phone(live, "CSDN"), Phone(live, "CSDN")
    assert "You vote with voting code no. 1" in one.enter(first)
    assert "You vote with voting code no. 2" in two.enter(f"{second[:4].lower()}-{second[4:]}")
    assert one.vote("Có") is None and two.vote("Không") is None
    services.close_vote(chair)
    result = Motion.objects.get().result
    assert result is not None and result["tally"] == {"Có": 1, "Không": 1}


def test_the_same_code_on_a_second_phone_is_the_same_voter(
    live: Meeting, org: Org, chair: Actor
) -> None:
    """A lost phone: the operator gives number 1 a new code, which votes as number 1 did."""
    _individual_vote(chair, site(live, org.site_a.pk))
    old = _codes(live, "CSDN")[0]
    first = Phone(live, "CSDN")
    first.enter(old)
    assert first.vote("Có") is None
    votingcodes.reissue(_invitation(live, "CSDN"), 1)
    new = _codes(live, "CSDN")[0]
    assert new != old
    second = Phone(live, "CSDN")
    assert "withdrawn" in second.enter(old) or "Unknown" in second.enter(old)
    assert "You vote with voting code no. 1" in second.enter(new)

    refused = second.vote("Không")
    assert refused is not None and refused.code == ALREADY_DONE
    refused = first.vote("Không")  # the old phone is no longer a voter
    assert refused is not None and refused.code == NOT_ALLOWED
    assert Ballot.objects.count() == 1


def test_a_withdrawn_codes_phone_cannot_vote(live: Meeting, org: Org, chair: Actor) -> None:
    _individual_vote(chair, site(live, org.site_a.pk))
    phone = Phone(live, "CSDN")
    phone.enter(_codes(live, "CSDN")[2])
    votingcodes.revoke(_invitation(live, "CSDN"), 3)

    refused = phone.vote("Có")
    assert refused is not None and refused.code == NOT_ALLOWED
    assert "voting code" in refused.message
    assert not Ballot.objects.exists()
    # Entering it again does not bring it back.
    assert "has been withdrawn" in Phone(live, "CSDN").enter(_codes(live, "CSDN")[2])


def test_a_phone_without_a_code_follows_but_cannot_vote(
    live: Meeting, org: Org, chair: Actor
) -> None:
    _individual_vote(chair, site(live, org.site_a.pk))
    refused = Phone(live, "CSDN").vote("Có")
    assert refused is not None and refused.code == NOT_ALLOWED
    assert not Ballot.objects.exists()


def _other_meeting_code(live: Meeting, org: Org) -> str:
    other = meeting_services.save_meeting(
        Meeting(title="Khác", start=live.start, end=live.end, main_site=org.main),
        sites={org.site_a},
        agenda=None,
        by=None,
    )
    return _codes(other, "CSDN")[0]


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("unknown", "Unknown voting code"),
        ("typo", "8 letters and digits"),
        ("other meeting", "belongs to another meeting"),
        ("other site", "belongs to another site"),
    ],
)
def test_a_code_that_is_not_this_sites_for_this_meeting_is_refused_with_a_message(
    live: Meeting, org: Org, chair: Actor, which: str, message: str
) -> None:
    _individual_vote(chair, site(live, org.site_a.pk))
    mine = _codes(live, "CSDN")[0]
    code = {
        "unknown": "".join(reversed(mine)),
        "typo": mine[:7] + "0",
        "other meeting": _other_meeting_code(live, org),
        "other site": _codes(live, "CSDT")[0],
    }[which]
    phone = Phone(live, "CSDN")
    page = phone.enter(code)
    assert message in page
    assert which == "typo" or "operator" in page  # who can help, where a check does not
    assert phone.vote("Có") is not None
    assert not VotingCode.objects.filter(meeting=live).exclude(claim="").exists()


def test_the_qr_code_link_fills_the_form_in_and_takes_nothing(live: Meeting) -> None:
    """A link preview fetching the QR code's URL must not use the code up."""
    code = _codes(live, "CSDN")[0]
    link = joinlinks.delegate_path(_invitation(live, "CSDN"))
    page = Client().get(f"{link}?code={code}").content.decode()
    assert f'value="{code}"' in page
    assert not VotingCode.objects.exclude(claim="").exists()


def test_codes_cover_the_expected_delegates_and_a_margin_and_can_be_extended(
    live: Meeting, org: Org
) -> None:
    invitation = _invitation(live, "CSDN")  # 30 expected
    cards = votingcodes.codes_for(invitation)
    assert [c.code.number for c in cards] == list(range(1, 34))
    texts = [c.text for c in cards]
    assert len(set(texts)) == len(texts)
    assert all(re.fullmatch(r"[2-9A-HJ-NP-Z]{8}", t) for t in texts)
    # Nothing readable is kept: the digest only.
    stored = " ".join(str(v) for v in VotingCode.objects.values_list("digest", "claim"))
    assert not any(t in stored for t in texts)
    assert votingcodes.add_codes(invitation, 5) == 5
    assert len(votingcodes.codes_for(invitation)) == 38
    with pytest.raises(votingcodes.VotingCodeError):
        votingcodes.add_codes(invitation, 0)


# --- the sheet ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "own", "status"),
    [
        (Role.SITE_OPERATOR, True, 200),
        (Role.SITE_OPERATOR, False, 403),
        (Role.DELEGATE, True, 403),
        (Role.HQ_OPERATOR, False, 200),
        (Role.CHAIR, False, 200),
    ],
)
def test_a_sites_sheet_is_for_hq_and_that_sites_operator_only(
    client: Client,
    meeting: Meeting,
    org: Org,
    make_user: MakeUser,
    role: Role,
    own: bool,
    status: int,
) -> None:
    """The site operator of site A cannot get site B's sheet (nor add, withdraw or replace
    its codes); a delegate account cannot get its own site's."""
    user_site = org.site_a if own or role == Role.SITE_OPERATOR else None
    client.force_login(make_user(role, user_site))
    target = "CSDN" if own else "CSDT"
    sheet = client.get(reverse("live:voting_codes", args=[meeting.pk, target]))
    assert sheet.status_code == status
    codes = _codes(meeting, target) if status == 200 else []
    add = client.post(reverse("live:voting_codes_add", args=[meeting.pk, target]), {"count": 3})
    revoke = client.post(reverse("live:voting_code_action", args=[meeting.pk, target, 1, "revoke"]))
    if status == 200:
        page = sheet.content.decode()
        assert all(votingcodes.display(c) in page for c in codes)
        assert page.count("<svg") >= len(codes)  # a QR code per card
        assert sheet["Cache-Control"].startswith("max-age=0")
        assert add.status_code == revoke.status_code == 302
    else:
        assert add.status_code == revoke.status_code == 403
        assert not VotingCode.objects.filter(revoked_at__isnull=False).exists()
        assert not VotingCode.objects.filter(site__code=target).exists()


def test_every_sites_sheet_is_for_hq_only(
    client: Client, meeting: Meeting, org: Org, make_user: MakeUser
) -> None:
    url = reverse("live:voting_codes_all", args=[meeting.pk])
    client.force_login(make_user(Role.SITE_OPERATOR, org.site_a))
    assert client.get(url).status_code == 403
    client.force_login(make_user(Role.HQ_OPERATOR))
    page = client.get(url).content.decode()
    assert 'data-site="CSDN"' in page and 'data-site="CSDT"' in page


def test_codes_do_not_change_once_the_meeting_is_over(live: Meeting) -> None:
    Meeting.objects.filter(pk=live.pk).update(status=MeetingStatus.ENDED)
    invitation = _invitation(live, "CSDN")
    with pytest.raises(votingcodes.VotingCodeError):
        votingcodes.add_codes(invitation, 1)
    with pytest.raises(votingcodes.VotingCodeError):
        votingcodes.reissue(invitation, 1)


# --- roll-call answers far above a site's expected delegates -----------------------------


def _expecting(org: Org, n: int) -> None:
    org.site_a.expected_delegates = n
    org.site_a.save()


def _roll_call(live: Meeting) -> dict[str, Any]:
    section: dict[str, Any] = build(live.live_state, ["roll_call"])["roll_call"]
    return section


def test_an_answer_far_above_the_expected_delegates_waits_for_the_chair(
    live: Meeting, org: Org, chair: Actor
) -> None:
    _expecting(org, 20)
    a = site(live, org.site_a.pk)
    services.open_roll_call(chair)
    services.answer_roll_call(a, 10_000)

    roll = _roll_call(live)
    assert roll["held"] == {str(org.site_a.pk): 10_000}
    assert roll["answers"] == {} and roll["totals"]["delegates_present"] == 0
    assert roll["totals"]["sites_present"] == 0
    assert services.delegates_present(live.pk, org.site_a.pk) is None
    with pytest.raises(Refused) as refused:  # a site does not confirm its own answer
        services.confirm_roll_call(a, org.site_a.pk, True)
    assert refused.value.code == NOT_ALLOWED

    services.confirm_roll_call(chair, org.site_a.pk, True)

    roll = _roll_call(live)
    assert roll["held"] == {} and roll["answers"] == {str(org.site_a.pk): 10_000}
    assert roll["totals"]["delegates_present"] == 10_000
    answer = live.roll_calls.get().answers.get()
    assert answer.confirmed_by == chair.user
    # Sending the confirmed number again needs no new confirmation.
    services.answer_roll_call(a, 10_000)
    assert _roll_call(live)["held"] == {}


def test_a_rejected_answer_leaves_the_earlier_one_counted(
    live: Meeting, org: Org, chair: Actor
) -> None:
    _expecting(org, 20)
    a = site(live, org.site_a.pk)
    services.open_roll_call(chair)
    services.answer_roll_call(a, 30)  # the limit: max(20 × 1.5, 20 + 5)
    services.answer_roll_call(a, 31)
    roll = _roll_call(live)
    assert roll["answers"] == {str(org.site_a.pk): 30}
    assert roll["held"] == {str(org.site_a.pk): 31}
    assert roll["totals"]["delegates_present"] == 30

    services.confirm_roll_call(chair, org.site_a.pk, False)

    roll = _roll_call(live)
    assert roll["held"] == {} and roll["answers"] == {str(org.site_a.pk): 30}
    with pytest.raises(Refused) as refused:  # nothing waits any more
        services.confirm_roll_call(chair, org.site_a.pk, True)
    assert refused.value.code == NOT_NOW


@pytest.mark.parametrize(("expected", "limit"), [(0, 5), (2, 7), (10, 15), (20, 30), (100, 150)])
def test_the_limit_is_half_again_or_five_more_whichever_is_higher(
    expected: int, limit: int
) -> None:
    assert services.roll_call_limit(expected) == limit


def test_a_held_answer_gives_no_individual_votes(live: Meeting, org: Org, chair: Actor) -> None:
    _expecting(org, 2)
    a = site(live, org.site_a.pk)
    services.open_roll_call(chair)
    services.answer_roll_call(a, 2)
    services.answer_roll_call(a, 50)  # held: the two confirmed delegates still count
    services.open_vote(chair, "Cá nhân", options=["Có", "Không"], counting="individual")
    codes = _codes(live, "CSDN")
    phones = [Phone(live, "CSDN") for _ in codes[:3]]
    for phone, code in zip(phones, codes, strict=False):
        phone.enter(code)
    assert [phone.vote("Có") is None for phone in phones] == [True, True, False]


def test_the_console_is_told_of_a_held_answer_in_the_event(
    live: Meeting, org: Org, chair: Actor
) -> None:
    _expecting(org, 20)
    services.open_roll_call(chair)
    event = services.answer_roll_call(site(live, org.site_a.pk), 10_000)
    assert event.sections["roll_call"]["held"] == {str(org.site_a.pk): 10_000}
    event = services.confirm_roll_call(chair, org.site_a.pk, True)
    assert event.kind == "roll_call.confirmed"
    assert event.sections["roll_call"]["totals"]["delegates_present"] == 10_000
