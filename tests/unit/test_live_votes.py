"""Votes through the live services: who may vote, how often, and with how many votes."""

from __future__ import annotations

import pytest

from diemcau.live import services, votingcodes
from diemcau.live.models import Ballot, Motion, VotingCode
from diemcau.live.services import Actor, Refused
from diemcau.meetings.models import Meeting
from tests.conftest import Org


def site(live: Meeting, site_pk: int) -> Actor:
    return Actor(live.pk, site_pk, hq=False)


def test_a_site_cannot_open_or_close_a_vote(live: Meeting, org: Org) -> None:
    with pytest.raises(Refused):
        services.open_vote(site(live, org.site_a.pk), "Tự mở")
    assert not Motion.objects.exists()


def test_a_site_votes_once_and_only_for_itself(live: Meeting, org: Org, chair: Actor) -> None:
    services.open_vote(chair, "Thông qua chương trình")
    options = Motion.objects.get().options
    services.cast_vote(site(live, org.site_a.pk), choice=options[0])
    with pytest.raises(Refused):
        services.cast_vote(site(live, org.site_a.pk), choice=options[1])
    # The ballot carries the sender's site, whatever the message says.
    ballot = Ballot.objects.get()
    assert ballot.site_id == org.site_a.pk and ballot.counts == {options[0]: 1}


def test_a_choice_outside_the_options_is_refused(live: Meeting, org: Org, chair: Actor) -> None:
    services.open_vote(chair, "X", options=["A", "B"])
    with pytest.raises(Refused):
        services.cast_vote(site(live, org.site_a.pk), choice="C")
    assert not Ballot.objects.exists()


def test_per_delegate_votes_cannot_exceed_delegates_present(
    live: Meeting, org: Org, chair: Actor
) -> None:
    a = site(live, org.site_a.pk)
    services.open_vote(chair, "Theo đại biểu", options=["Có", "Không"], counting="delegates")
    with pytest.raises(Refused, match=r"roll call|điểm danh"):
        services.cast_vote(a, counts={"Có": 1, "Không": 0})  # no roll-call answer yet
    services.close_vote(chair)
    services.open_roll_call(chair)
    services.answer_roll_call(a, 12)
    services.open_vote(chair, "Theo đại biểu 2", options=["Có", "Không"], counting="delegates")
    for bad in ({"Có": 10, "Không": 3}, {"Có": -1}, {"Có": "5"}, {"Có": True}, {"Khác": 1}, [1, 2]):
        with pytest.raises(Refused):
            services.cast_vote(a, counts=bad)
    services.cast_vote(a, counts={"Có": 10, "Không": 2})
    assert Ballot.objects.get(motion__number=2).counts == {"Có": 10, "Không": 2}


def test_result_needs_quorum_and_majority(live: Meeting, org: Org, chair: Actor) -> None:
    services.open_vote(chair, "Đa số", options=["Tán thành", "Không"], quorum_percent=50)
    services.cast_vote(site(live, org.site_a.pk), choice="Tán thành")
    services.close_vote(chair)
    result = Motion.objects.get().result
    assert result is not None
    assert result["cast"] == 1 and result["eligible"] == 3 and not result["quorum"]
    assert not result["adopted"]

    services.open_vote(chair, "Lần 2", options=["Tán thành", "Không"], quorum_percent=50)
    services.cast_vote(site(live, org.site_a.pk), choice="Tán thành")
    services.cast_vote(site(live, org.site_b.pk), choice="Tán thành")
    services.cast_vote(site(live, org.main.pk), choice="Không")
    services.close_vote(chair)
    result = Motion.objects.get(number=2).result
    assert result is not None
    assert (
        result["quorum"] and result["adopted"] and result["tally"] == {"Tán thành": 2, "Không": 1}
    )


def test_secret_vote_does_not_show_who_chose_what(live: Meeting, org: Org, chair: Actor) -> None:
    """While a secret vote is open, every page sees only how many have voted: not who, not
    a running tally (two events in a row would tell what the site in between chose)."""
    import json

    from diemcau.live.state import build

    services.open_vote(chair, "Kín", secret=True, options=["Có", "Không"])
    a, b = site(live, org.site_a.pk), site(live, org.site_b.pk)
    events = [services.cast_vote(a, choice="Có"), services.cast_vote(b, choice="Không")]
    for event in events:
        vote = json.loads(event.message())["state"]["vote"]
        assert vote["voted"] is None and vote["ballots"] is None
        assert vote["result"]["tally"] is None and vote["result"]["adopted"] is None
    assert [json.loads(e.message())["state"]["vote"]["result"]["cast"] for e in events] == [1, 2]
    assert build(live.live_state, ["vote"])["vote"]["voted"] is None
    # Each page is told about itself.
    assert services.voted_in_open_vote(a) == Motion.objects.get().pk
    assert services.voted_in_open_vote(site(live, org.main.pk)) is None
    # Closed: the totals, still not who chose what.
    closed = json.loads(services.close_vote(chair).message())["state"]["vote"]
    assert closed["result"]["tally"] == {"Có": 1, "Không": 1} and closed["ballots"] is None


def test_named_vote_shows_who_voted_and_the_running_tally(
    live: Meeting, org: Org, chair: Actor
) -> None:
    from diemcau.live.state import build

    services.open_vote(chair, "Công khai", options=["Có", "Không"])
    services.cast_vote(site(live, org.site_a.pk), choice="Có")
    vote = build(live.live_state, ["vote"])["vote"]
    assert vote["voted"] == [org.site_a.pk] and vote["ballots"] == {str(org.site_a.pk): {"Có": 1}}
    assert vote["result"]["tally"] == {"Có": 1, "Không": 0}


def test_only_one_vote_is_open_at_a_time(live: Meeting, chair: Actor) -> None:
    services.open_vote(chair, "Một")
    with pytest.raises(Refused):
        services.open_vote(chair, "Hai")


def delegate(live: Meeting, site_pk: int, key: str) -> Actor:
    """A delegate's phone (its session's voter key) that entered a voting code of its site
    (tests/unit/test_live_voting_codes.py goes through the page)."""
    invitation = live.invitations.select_related("meeting", "site").get(site_id=site_pk)
    if not VotingCode.objects.filter(meeting=live, claim=key).exists():
        free = next(c for c in votingcodes.codes_for(invitation) if not c.code.claim)
        votingcodes.claim(invitation, free.text, key)
    return Actor(live.pk, site_pk, hq=False, voter=key)


def test_delegates_vote_individually_once_each_and_no_more_than_present(
    live: Meeting, org: Org, chair: Actor
) -> None:
    services.open_roll_call(chair)
    services.answer_roll_call(site(live, org.site_a.pk), 2)
    services.open_vote(chair, "Cá nhân", options=["Có", "Không"], counting="individual")
    services.cast_vote(delegate(live, org.site_a.pk, "phone-1"), choice="Có")
    with pytest.raises(Refused):
        services.cast_vote(delegate(live, org.site_a.pk, "phone-1"), choice="Không")
    services.cast_vote(delegate(live, org.site_a.pk, "phone-2"), choice="Không")
    with pytest.raises(Refused):  # a third phone, but the room reported 2 delegates
        services.cast_vote(delegate(live, org.site_a.pk, "phone-3"), choice="Có")
    with pytest.raises(Refused):  # site B never answered the roll call
        services.cast_vote(delegate(live, org.site_b.pk, "phone-4"), choice="Có")
    with pytest.raises(Refused):  # the room page itself does not vote in an individual vote
        services.cast_vote(site(live, org.site_a.pk), choice="Có")
    services.close_vote(chair)
    result = Motion.objects.get().result
    assert result is not None
    assert result["tally"] == {"Có": 1, "Không": 1} and result["sites_voted"] == 1


def test_a_delegate_link_may_only_vote(live: Meeting, org: Org, chair: Actor) -> None:
    phone = delegate(live, org.site_a.pk, "phone-1")
    with pytest.raises(Refused):
        services.request_floor(phone, "x")
    with pytest.raises(Refused):
        services.answer_roll_call(phone, 3)
    with pytest.raises(Refused):
        services.set_screen_share(phone, True)
    services.open_vote(chair, "Theo điểm cầu")  # per site: phones do not vote
    with pytest.raises(Refused):
        services.cast_vote(phone, choice=Motion.objects.get().options[0])


def test_delegate_and_room_links_are_not_interchangeable(live: Meeting, client: object) -> None:
    from django.test import Client

    from diemcau.meetings import joinlinks

    inv = live.invitations.select_related("site", "meeting").get(site__code="CSDN")
    room_token = joinlinks.make_token(inv)
    delegate_token = joinlinks.make_token(inv, joinlinks.DELEGATE_SALT)
    with pytest.raises(joinlinks.JoinLinkError):
        joinlinks.verify(delegate_token, live.pk, "CSDN")
    with pytest.raises(joinlinks.JoinLinkError):
        joinlinks.verify(room_token, live.pk, "CSDN", salt=joinlinks.DELEGATE_SALT)
    page = Client().get(joinlinks.delegate_path(inv))
    assert page.status_code == 200 and "Cao su Đồng Nai" in page.content.decode()
