"""Voting codes: one personal credential per delegate, for votes counted individually.

Docs: docs/live.md ("Voting codes"). A delegate link (meetings/joinlinks.py) says which site
a phone belongs to, not who holds it: anyone can open it in as many browser sessions as they
like. So each invited site gets numbered codes 1..n for the meeting (its expected delegates
plus a margin; HQ or the site's operator can add more), printed on a sheet with a QR code
each. A phone that enters a code becomes that code's voter:

- a code is used by one phone at a time; another phone entering it is refused and told to
  ask the site's operator, who can give the number a new code (`reissue`: the old one stops
  working, the voter stays the same, so a ballot already cast is not cast again);
- a ballot is keyed by the code (`ballot_key`), not by the phone: one code, one vote;
- a withdrawn code (`revoke`) makes its phone a follower again, not a voter.

A code is 8 characters from an alphabet without look-alikes (no 0/O, 1/I), derived from the
installation's secret, the meeting, site, number and generation: the sheet can be printed
again at any time, and the database keeps only a keyed digest of it (a copy of the database
does not give away the codes). Changing the installation's secret changes every code:
`codes_for` notices and the old sheets stop working (print them again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from diemcau.live.models import VotingCode
from diemcau.meetings.models import Invitation, MeetingStatus

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: 5 bits each, no 0/O, 1/I
LENGTH = 8  # 40 bits: guessing one of 1,500 codes takes ~7·10^8 tries on average
# One site never needs more (the largest room of the organisation holds a few hundred).
MAX_PER_SITE = 1000
MAX_ADD = 100  # codes added at once


class VotingCodeError(Exception):
    """The code cannot be used; `message` tells the delegate what to do next."""

    def __init__(self, code: str, message: str | Promise) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def margin(expected: int) -> int:
    """Spare codes beyond the expected delegates: a tenth, at least 2."""
    return max(2, math.ceil(expected / 10))


def code_text(meeting_id: int, site_id: int, number: int, generation: int) -> str:
    mac = salted_hmac(
        "diemcau.live.votingcode",
        f"{meeting_id}:{site_id}:{number}:{generation}",
        algorithm="sha256",
    ).digest()
    # 256 is a multiple of 32: every symbol equally likely.
    return "".join(ALPHABET[b % len(ALPHABET)] for b in mac[:LENGTH])


def text_of(code: VotingCode) -> str:
    return code_text(code.meeting_id, code.site_id, code.number, code.generation)


def digest(text: str) -> str:
    return salted_hmac("diemcau.live.votingcode.digest", text, algorithm="sha256").hexdigest()


def display(text: str) -> str:
    """ABCD-EFGH: easier to read out and type in two halves."""
    return f"{text[:4]}-{text[4:]}"


def normalise(raw: str) -> str:
    """What the delegate typed, as a code: capitals, without spaces or dashes."""
    return "".join(ch for ch in raw.upper() if ch not in " -\t.")


def ballot_key(motion_id: int, code: VotingCode) -> str:
    """A ballot's voter: one per code and vote, which says nothing of the code without the
    installation's secret (a copy of the ballots does not tell who chose what)."""
    return salted_hmac(
        "diemcau.live.ballot", f"{motion_id}:{code.pk}", algorithm="sha256"
    ).hexdigest()[:32]


# --- issuing -------------------------------------------------------------------------


def _create(invitation: Invitation, number: int) -> VotingCode:
    """Code `number` of the invitation's site; a digest already used in the meeting (about
    one chance in a million per meeting) takes the next generation."""
    for generation in range(10):
        text = code_text(invitation.meeting_id, invitation.site_id, number, generation)
        try:
            with transaction.atomic():
                return VotingCode.objects.create(
                    meeting_id=invitation.meeting_id,
                    site_id=invitation.site_id,
                    number=number,
                    generation=generation,
                    digest=digest(text),
                )
        except IntegrityError:
            if VotingCode.objects.filter(
                meeting_id=invitation.meeting_id, site_id=invitation.site_id, number=number
            ).exists():
                raise  # the number itself exists: a caller's mistake, not a collision
    raise RuntimeError("no free voting code after 10 generations")


def _check_open(invitation: Invitation) -> None:
    if invitation.meeting.status in (MeetingStatus.ENDED, MeetingStatus.CANCELLED):
        raise VotingCodeError("closed", _("The meeting is over: its voting codes cannot change."))


@transaction.atomic
def ensure_codes(invitation: Invitation) -> None:
    """The site has at least its expected delegates plus the margin (never fewer than
    before: the site's expected delegates may have gone down since)."""
    Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.meeting.status in (MeetingStatus.ENDED, MeetingStatus.CANCELLED):
        return
    expected = invitation.site.expected_delegates
    want = min(MAX_PER_SITE, expected + margin(expected))
    have = set(_codes(invitation).values_list("number", flat=True))
    for number in range(1, want + 1):
        if number not in have:
            _create(invitation, number)


@transaction.atomic
def add_codes(invitation: Invitation, count: int) -> int:
    """`count` more codes for the site (numbered after the last); returns how many."""
    _check_open(invitation)
    Invitation.objects.select_for_update().get(pk=invitation.pk)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ADD:
        raise VotingCodeError(
            "bad_count",
            _("Add from 1 to %(max)d codes at a time (got %(value)s).")
            % {"max": MAX_ADD, "value": count},
        )
    last = _codes(invitation).order_by("-number").values_list("number", flat=True).first() or 0
    if last + count > MAX_PER_SITE:
        raise VotingCodeError(
            "too_many",
            _("A site has at most %(max)d voting codes (it has %(have)d).")
            % {"max": MAX_PER_SITE, "have": last},
        )
    for number in range(last + 1, last + count + 1):
        _create(invitation, number)
    return count


def _codes(invitation: Invitation) -> QuerySet[VotingCode]:
    return VotingCode.objects.filter(meeting_id=invitation.meeting_id, site_id=invitation.site_id)


@dataclass(frozen=True)
class Card:
    """One line of the sheet: the code's number and text, and whether it is in use."""

    code: VotingCode
    text: str

    @property
    def shown(self) -> str:
        return display(self.text)


def codes_for(invitation: Invitation) -> list[Card]:
    """The site's codes, in number order (made first where missing)."""
    ensure_codes(invitation)
    cards = []
    for code in _codes(invitation).order_by("number"):
        text = text_of(code)
        if not constant_time_compare(code.digest, digest(text)):
            # The installation's secret changed since: the code on file is the new one.
            code.digest = digest(text)
            code.save(update_fields=["digest"])
        cards.append(Card(code, text))
    return cards


@transaction.atomic
def revoke(invitation: Invitation, number: int) -> VotingCode:
    """Withdraw code `number`: the phone using it is no longer a voter."""
    code = _locked(invitation, number)
    code.revoked_at = timezone.now()
    code.claim, code.claimed_at = "", None
    code.save(update_fields=["revoked_at", "claim", "claimed_at"])
    return code


@transaction.atomic
def reissue(invitation: Invitation, number: int) -> VotingCode:
    """A new code for number `number` (a lost card, a phone that lost its session): the old
    one stops working, its phone is no longer a voter, and the new one is the same voter
    (a ballot cast with the old code counts, and is not cast again)."""
    _check_open(invitation)
    code = _locked(invitation, number)
    for generation in range(code.generation + 1, code.generation + 11):
        text = code_text(code.meeting_id, code.site_id, code.number, generation)
        if not VotingCode.objects.filter(meeting_id=code.meeting_id, digest=digest(text)).exists():
            break
    code.generation, code.digest = generation, digest(text)
    code.claim, code.claimed_at, code.revoked_at = "", None, None
    code.save(update_fields=["generation", "digest", "claim", "claimed_at", "revoked_at"])
    return code


def _locked(invitation: Invitation, number: int) -> VotingCode:
    code = _codes(invitation).select_for_update().filter(number=number).first()
    if code is None:
        raise VotingCodeError(
            "unknown_number", _("There is no voting code no. %(n)d.") % {"n": number}
        )
    return code


# --- using -----------------------------------------------------------------------------


@transaction.atomic
def claim(invitation: Invitation, raw: str, voter: str) -> VotingCode:
    """The phone whose delegate session has the key `voter` uses the code typed as `raw`
    at this invitation's delegate link, or VotingCodeError says why not."""
    text = normalise(raw)
    if len(text) != LENGTH or any(ch not in ALPHABET for ch in text):
        raise VotingCodeError(
            "format",
            _(
                "A voting code has 8 letters and digits, as printed on your card "
                "(got “%(value)s”). Check it and try again."
            )
            % {"value": raw.strip()[:20]},
        )
    found = list(VotingCode.objects.select_for_update().filter(digest=digest(text)))
    code = next((c for c in found if c.meeting_id == invitation.meeting_id), None)
    if code is None:
        if found:
            raise VotingCodeError(
                "other_meeting",
                _(
                    "This voting code belongs to another meeting. Use the card handed out "
                    "for this meeting, or ask your site's operator."
                ),
            )
        raise VotingCodeError(
            "unknown",
            _(
                "Unknown voting code. Check it against your card (8 letters and digits); "
                "if it still does not work, ask your site's operator for a new one."
            ),
        )
    if code.site_id != invitation.site_id:
        raise VotingCodeError(
            "other_site",
            _(
                "This voting code belongs to another site's delegates. Open your own site's "
                "link, or ask your site's operator."
            ),
        )
    if code.revoked_at is not None:
        raise VotingCodeError(
            "revoked",
            _("This voting code has been withdrawn. Ask your site's operator for a new one."),
        )
    if code.claim == voter:
        return code  # this phone already uses it
    if code.claim:
        raise VotingCodeError(
            "in_use",
            _(
                "This voting code is already in use on another phone. If it is yours, ask "
                "your site's operator for a new code: the other phone then stops voting."
            ),
        )
    mine = VotingCode.objects.filter(meeting_id=invitation.meeting_id, claim=voter).first()
    if mine is not None:
        raise VotingCodeError(
            "one_per_phone",
            _("This phone already votes with code no. %(n)d: one phone, one delegate.")
            % {"n": mine.number},
        )
    code.claim, code.claimed_at = voter, timezone.now()
    code.save(update_fields=["claim", "claimed_at"])
    return code


def code_of(meeting_id: int, voter: str) -> VotingCode | None:
    """The code the phone with this voter key uses in the meeting (None: it only follows)."""
    if not voter:
        return None
    return VotingCode.objects.filter(
        meeting_id=meeting_id, claim=voter, revoked_at__isnull=True
    ).first()
