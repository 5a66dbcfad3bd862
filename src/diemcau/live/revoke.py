"""Taking someone out of a meeting they are in: close their control sockets, take their
room token out of Janus's `allowed` list and kick their feeds.

What starts it (docs/security.md): a join link revoked or an invitation withdrawn
(`meetings.hooks`), an account disabled or logging out (`live.apps` connects the
signals), a meeting ending (`lifecycle.end_meeting`); a link expiring is timed by the
socket itself (consumers.py). Sockets are reached through channel-layer groups, so the
close reaches every process (Redis), and a new socket with the same session is refused by
`consumers.resolve_actor`, which checks the link and the account again.

Each participant's Janus room token is derived from the room's secret and who it is for
(`room_token`): the server hands out the same token again on a re-join and can take it
away without keeping a list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from diemcau.live.models import LiveState
from diemcau.meetings.models import Invitation, Meeting, MeetingStatus
from diemcau.meetings.reach import session_group, site_group, user_group
from diemcau.sfu import rooms
from diemcau.sfu.feeds import SLOTS

log = logging.getLogger(__name__)

# Close codes (4000-4999 are ours; the page shows why and does not retry for 44xx).
CLOSE_REVOKED = 4401  # the link was revoked or expired, the account disabled or logged out
CLOSE_FORBIDDEN = 4403  # never allowed in (bad or missing link, not HQ staff)
CLOSE_NOT_FOUND = 4404  # no such meeting
CLOSE_ENDED = 4410  # the meeting is over: sites and delegates are done


def site_participant(meeting_id: int, site_id: int, nonce: str) -> str:
    """A site's room page, for the link it holds (a new link is a new participant)."""
    return f"m{meeting_id}-s{site_id}-{nonce}"


def hq_participant(meeting_id: int, user_id: int) -> str:
    return f"m{meeting_id}-hq{user_id}"


def room_token(room_secret: str, participant: str) -> str:
    """The participant's token in the room's `allowed` list: unguessable without the
    room's secret, the same each time the participant asks."""
    digest = hmac.new(room_secret.encode(), participant.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


# --- groups: who a close reaches (site, user and session groups: meetings/reach.py) ------

__all__ = ["session_group", "site_group", "user_group"]  # used as revoke.* by consumers


def hq_group(meeting_id: int) -> str:
    """HQ's consoles of a meeting: what only HQ is told (link quality, devices)."""
    return f"live.hq.{meeting_id}"


def meeting_sites_group(meeting_id: int) -> str:
    """Every site page and delegate phone of a meeting (not HQ's consoles)."""
    return f"live.sites.{meeting_id}"


def _close(group: str, code: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group, {"type": "live.close", "code": code})


def _after_commit(fn: Any) -> None:
    transaction.on_commit(fn)


# --- what starts it -------------------------------------------------------------------


def link_revoked(invitation: Invitation, old_nonce: str) -> None:
    """`meetings.hooks`: the invitation's links were replaced by new ones."""
    feeds = _site_feeds(invitation.meeting_id, invitation.site_id)
    site_removed(invitation.meeting_id, invitation.site_id, old_nonce, feeds)


def _site_feeds(meeting_id: int, site_id: int) -> tuple[int, ...]:
    entry = (
        LiveState.objects.filter(meeting_id=meeting_id).values_list("feeds", flat=True).first()
        or {}
    ).get(str(site_id)) or {}
    return tuple(int(entry[slot]) for slot in SLOTS if slot in entry)


def site_removed(meeting_id: int, site_id: int, old: str, feeds: tuple[int, ...]) -> None:
    """A site's link was revoked or its invitation withdrawn (`old`: the nonce its links
    carried; `feeds`: the publisher ids its page holds): close its pages and phones, take
    its token out of the room, kick its feeds."""

    def run() -> None:
        _close(site_group(meeting_id, site_id), CLOSE_REVOKED)
        meeting = Meeting.objects.filter(pk=meeting_id).first()
        if meeting is None or meeting.status != MeetingStatus.LIVE or meeting.janus_room is None:
            return
        token = room_token(meeting.janus_room_secret, site_participant(meeting_id, site_id, old))
        try:
            rooms.revoke_access(meeting.janus_room, meeting.janus_room_secret, [token], feeds)
        except rooms.MediaUnavailable as exc:
            # The sockets are closed; the periodic enforcement kicks the feeds once Janus is
            # back, and the token dies with the room.
            log.warning("meeting %s: cannot revoke site %s in Janus: %s", meeting_id, site_id, exc)

    _after_commit(run)


def _end_sessions_of(user_id: int) -> None:
    """Log the account out everywhere: its browser sessions are deleted (with whatever
    they held, a room's join link too) and every socket they opened is closed."""
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user_id):
            _close(session_group(session.session_key), CLOSE_REVOKED)
            session.delete()


def _revoke_hq_tokens(user_id: int) -> None:
    """Take the account's room token out of every live room."""
    for meeting in Meeting.objects.filter(status=MeetingStatus.LIVE, janus_room__isnull=False):
        assert meeting.janus_room is not None
        token = room_token(meeting.janus_room_secret, hq_participant(meeting.pk, user_id))
        try:
            rooms.revoke_access(meeting.janus_room, meeting.janus_room_secret, [token], ())
        except rooms.MediaUnavailable as exc:
            log.warning("meeting %s: cannot revoke user %s: %s", meeting.pk, user_id, exc)


def user_removed(user_id: int, *, disabled: bool = True) -> None:
    """An account was disabled (or is no longer HQ staff): close its consoles and take its
    tokens out of every live room (its feeds are kicked by the enforcement once no console
    acts for HQ); a disabled account is logged out of every browser."""

    def run() -> None:
        _close(user_group(user_id), CLOSE_REVOKED)
        if disabled:
            _end_sessions_of(user_id)
        _revoke_hq_tokens(user_id)

    _after_commit(run)


def session_ended(session_key: str | None, user_id: int | None) -> None:
    """A browser session logged out: every socket it opened closes."""
    if session_key:
        _close(session_group(session_key), CLOSE_REVOKED)
    if user_id is not None:
        # Its consoles' room token goes too; another console of the same account gets it
        # back when it next asks for media.
        _revoke_hq_tokens(user_id)


def meeting_over(meeting_id: int) -> None:
    """The meeting ended (its room is destroyed): sites' pages and delegates' phones have
    been told and are closed; HQ's consoles stay to see the record."""
    _after_commit(lambda: _close(meeting_sites_group(meeting_id), CLOSE_ENDED))
