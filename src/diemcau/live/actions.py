"""Every action on a live meeting: when it is allowed, who may do it, what event it makes.

`live.services` carries the actions out; before any of them changes anything it asks
`ACTIONS[name].check(actor, status)`, the one place that refuses an action that is not
allowed in the meeting's status or for the sender's role. A refusal is a `Refused` with a
named code (`CODES`, the table in docs/live.md), like Janus's numbered errors; the consumer
sends the code and the message to the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext as _

from diemcau.accounts.models import User
from diemcau.meetings.models import MeetingStatus

# Refusal codes, in the order of docs/live.md's table.
NOT_LIVE = "not_live"  # the meeting's status does not allow the action
NOT_ALLOWED = "not_allowed"  # the sender's role (or site) may not do it
NOT_INVITED = "not_invited"  # the site named is not invited to the meeting
BAD_VALUE = "bad_value"  # a field is missing, of the wrong type or out of range
NOT_NOW = "not_now"  # allowed, but the meeting is not in a state for it now
ALREADY_DONE = "already_done"  # once only, and it was done (voted, waiting for the floor)
OVER_LIMIT = "over_limit"  # more votes than the delegates present
UNKNOWN_TYPE = "unknown_type"  # the request type does not exist
REFUSED = "refused"  # a refusal not yet given a code of its own
SERVER_ERROR = "server_error"  # not a refusal: the server failed (logged), nothing changed

CODES = (
    NOT_LIVE,
    NOT_ALLOWED,
    NOT_INVITED,
    BAD_VALUE,
    NOT_NOW,
    ALREADY_DONE,
    OVER_LIMIT,
    UNKNOWN_TYPE,
    REFUSED,
    SERVER_ERROR,
)


class Refused(Exception):
    """The action is not allowed for this actor, or not now. `str()` is the message, which
    says why (and names the bad value); `code` is one of `CODES`."""

    def __init__(self, code: str, message: str | None = None) -> None:
        if message is None:  # Refused("why"): code not given yet
            code, message = REFUSED, code
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Actor:
    """Who sends a message: HQ staff (chair/operator/admin) or one site's room page."""

    meeting_id: int
    site_id: int | None  # the site this connection acts for (HQ acts for the main site)
    hq: bool
    user: User | None = None
    chair: bool = False  # may run the meeting (grant, mute, roll call, main source)
    voter: str = ""  # a delegate's phone: may only follow the meeting and vote individually
    link: str = ""  # a site's page: the nonce of the join link it opened (revoking changes it)


class Who(StrEnum):
    CHAIR = "chair"  # an HQ console whose user may run the meeting (chair, HQ operator)
    HQ = "hq"  # any HQ console; it acts for the main site
    SITE = "site"  # a site's room page (join link)
    DELEGATE = "delegate"  # a delegate's phone (delegate link)
    SERVER = "server"  # meetings.services: start, end, edit


def roles(actor: Actor | None) -> frozenset[Who]:
    if actor is None:
        return frozenset({Who.SERVER})
    if actor.voter:
        return frozenset({Who.DELEGATE})
    if actor.hq:
        return frozenset({Who.HQ, Who.CHAIR} if actor.chair else {Who.HQ})
    return frozenset({Who.SITE})


_S, _L, _E, _C = (
    MeetingStatus.SCHEDULED,
    MeetingStatus.LIVE,
    MeetingStatus.ENDED,
    MeetingStatus.CANCELLED,
)
LIVE = frozenset({_L})
# The chair prepares before the start (main source, mutes, a banner); sites try the chat.
PREPARING = frozenset({_S, _L})
ALWAYS = frozenset({_S, _L, _E, _C})

CHAIR = frozenset({Who.CHAIR})
PAGE = frozenset({Who.SITE, Who.HQ})  # a page acting for a site (HQ: the main site)
VOTER = frozenset({Who.SITE, Who.HQ, Who.DELEGATE})
SERVER = frozenset({Who.SERVER})


@dataclass(frozen=True)
class Action:
    name: str  # the request's `type` (docs/live.md), or the server's own name for it
    kind: str  # the event's `kind`
    statuses: frozenset[str]
    who: frozenset[Who]
    # The page is told every section, not only those that changed (a status change is a
    # new start for every page: it may have been open since long before).
    everything: bool = False
    # The sender's site must (still) be invited; a page closing is recorded regardless.
    invited_only: bool = True

    def check(self, actor: Actor | None, status: str) -> None:
        """Refuse unless `actor` may do this in a meeting of `status`."""
        mine = roles(actor)
        if not mine & self.who:
            if self.who == CHAIR:
                raise Refused(NOT_ALLOWED, _("Only the chair or HQ operator may do this."))
            if Who.DELEGATE in mine:
                raise Refused(NOT_ALLOWED, _("A delegate's link may only vote."))
            raise Refused(
                NOT_ALLOWED, _("This page may not do this (%(action)s).") % {"action": self.name}
            )
        if actor is not None and actor.site_id is None and self.who & PAGE:
            raise Refused(NOT_ALLOWED, _("This connection does not act for a site."))
        if status not in self.statuses:
            raise Refused(NOT_LIVE, _status_refusal(status))


def _status_refusal(status: str) -> str:
    if status == _S:
        return _("The meeting has not started yet.")
    if status == _E:
        return _("The meeting has ended.")
    if status == _C:
        return _("The meeting was cancelled.")
    return _("The meeting is not live.")


def _table(*actions: Action) -> dict[str, Action]:
    return {a.name: a for a in actions}


ACTIONS = _table(
    # name, event kind, meeting statuses, who
    Action("presence.connect", "presence", ALWAYS, PAGE),
    Action("presence.disconnect", "presence", ALWAYS, PAGE, invited_only=False),
    # A page's publisher: ids issued with its media access, named once it is published.
    Action("media.access", "feeds", LIVE, PAGE),
    Action("media.published", "feeds", LIVE, PAGE),
    # The layers a site receives (live/linkpolicy.py): the policy's own decision, taken
    # from its page's reports; HQ's pin; the site's weak-link mode.
    Action("link.auto", "links", PREPARING, PAGE),
    Action("link.pin", "links", PREPARING, CHAIR),
    Action("link.weak", "links", PREPARING, PAGE),
    Action("floor.request", "floor.requested", LIVE, PAGE),
    Action("floor.cancel", "floor.cancelled", LIVE, PAGE),
    Action("floor.grant", "floor.granted", LIVE, CHAIR),
    Action("floor.decline", "floor.declined", LIVE, CHAIR),
    Action("floor.take_back", "floor.ended", LIVE, CHAIR),
    Action("mute", "mics", PREPARING, CHAIR),
    Action("mute.all", "mics", PREPARING, CHAIR),
    Action("main_source.set", "main_source", PREPARING, CHAIR),
    Action("screen.set", "screen", LIVE, PAGE),
    Action("roll_call.open", "roll_call.opened", LIVE, CHAIR),
    Action("roll_call.close", "roll_call.closed", LIVE, CHAIR),
    Action("roll_call.answer", "roll_call.answered", LIVE, PAGE),
    # A held answer (far above the site's expected delegates): HQ accepts or rejects it.
    Action("roll_call.confirm", "roll_call.confirmed", LIVE, CHAIR),
    Action("announce", "announcement", PREPARING, CHAIR),
    Action("chat.send", "chat", PREPARING, PAGE),
    Action("vote.open", "vote.opened", LIVE, CHAIR),
    Action("vote.cast", "vote.cast", LIVE, VOTER),
    Action("vote.close", "vote.closed", LIVE, CHAIR),
    Action("meeting.status", "meeting", ALWAYS, SERVER, everything=True),
    Action("meeting.edit", "meeting", PREPARING, SERVER),
)
