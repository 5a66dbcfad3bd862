"""Who may publish and whose audio passes, decided by the server, carried out by Janus.

Clients subscribe by the same rule (static/live/policy.js): a site receives the main source
and the floor (high layer) and the shared screen; HQ receives every site at the lowest
layer, and a high layer for the one it enlarges; audio only from sites whose mic is open.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.accounts.permissions import is_hq_staff
from diemcau.live import state as live_state
from diemcau.live.actions import NOT_ALLOWED, NOT_INVITED, NOT_LIVE
from diemcau.live.models import Attendance, LiveState
from diemcau.live.services import Actor, Refused
from diemcau.meetings.models import Invitation, Meeting, MeetingStatus
from diemcau.sfu import rooms
from diemcau.sfu.feeds import CAMERA, SCREEN, SLOTS, feed_id
from diemcau.sfu.upkeep import EnforcementQueue
from diemcau.turn import credentials as turn_credentials

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Grant:
    """What the database said a page may have; Janus is asked afterwards."""

    room_id: int
    room_secret: str
    camera: int
    screen: int
    ice_servers: list[dict[str, object]]


def _checked(actor: Actor, host: str) -> _Grant:
    """Checked again on every request, not only when the socket opened: a site whose
    invitation was withdrawn, or an account disabled since, gets nothing."""
    meeting = Meeting.objects.get(pk=actor.meeting_id)
    if meeting.status != MeetingStatus.LIVE or meeting.janus_room is None:
        raise Refused(NOT_LIVE, _("The meeting is not live."))
    if actor.site_id is None or actor.voter:
        raise Refused(NOT_ALLOWED, _("This connection does not act for a site."))
    if actor.hq:
        user = actor.user
        current = get_user_model().objects.filter(pk=user.pk).first() if user else None
        if current is None or not current.is_active or not is_hq_staff(current):
            raise Refused(NOT_ALLOWED, _("This account may no longer take part."))
        participant = f"m{meeting.pk}-hq{current.pk}"
    else:
        if not Invitation.objects.filter(meeting=meeting, site_id=actor.site_id).exists():
            raise Refused(NOT_INVITED, _("This site is no longer invited to the meeting."))
        participant = f"m{meeting.pk}-s{actor.site_id}"
    return _Grant(
        room_id=meeting.janus_room,
        room_secret=meeting.janus_room_secret,
        camera=feed_id(actor.site_id, CAMERA),
        screen=feed_id(actor.site_id, SCREEN),
        ice_servers=ice_servers_for(meeting, participant, host),
    )


def _reply(grant: _Grant, access: rooms.MediaAccess) -> dict[str, Any]:
    return {
        "janus_url": access.janus_url,
        "core_token": access.core_token,
        "room": access.room_id,
        "room_token": access.room_token,
        "feed": grant.camera,
        "screen_feed": grant.screen,
        "ice_servers": grant.ice_servers,
    }


def access_for(actor: Actor, host: str = "") -> dict[str, Any]:
    """Janus tokens for this page, bound to its own feed ids, and TURN credentials.

    `host` is the name the page was opened at (the TURN URLs use it when the front serves
    that name)."""
    grant = _checked(actor, host)
    feeds = (grant.camera, grant.screen)
    return _reply(grant, rooms.grant_access(grant.room_id, grant.room_secret, feeds))


async def aaccess_for(actor: Actor, host: str = "") -> dict[str, Any]:
    """`access_for` from the control socket: the database part on a worker thread, the
    Janus part on the Janus link, so a burst of joins holds up no thread."""
    grant = await database_sync_to_async(_checked)(actor, host)
    feeds = (grant.camera, grant.screen)
    return _reply(grant, await rooms.agrant_access(grant.room_id, grant.room_secret, feeds))


def ice_servers_for(meeting: Meeting, participant: str, host: str) -> list[dict[str, object]]:
    """TURN for this participant until the meeting's end + 15 min (docs/deploy.md)."""
    turn = settings.TURN
    if not turn.enabled:
        return []
    front = settings.FRONT
    name = host if host in front.names else front.address
    expires = turn_credentials.expiry(timezone.now(), meeting.end, turn)
    credential = turn_credentials.issue(turn.secret, participant, expires)
    return turn_credentials.ice_servers(turn, name, credential)


def connected_sites(meeting_id: int) -> set[int]:
    """Sites with a control connection open now (their page, or HQ's console)."""
    return set(
        Attendance.objects.filter(meeting_id=meeting_id, left_at__isnull=True).values_list(
            "site_id", flat=True
        )
    )


def open_feeds(state: LiveState, connected: set[int]) -> set[int]:
    """Whose audio Janus lets through: open microphones of sites that are connected."""
    return {feed_id(s) for s in connected if live_state.audio_open(state, s)}


def allowed_feeds(connected: set[int]) -> set[int]:
    """Who may publish at all. Janus's room tokens do not bind a feed id, so a page could
    join under another site's id; a publisher is kept only while the site whose id it uses
    has its control connection open (and a site's own page, when it connects and asks for
    access, kicks whoever holds its ids)."""
    return {feed_id(s, slot) for s in connected for slot in SLOTS}


def enforce_audio(meeting_id: int) -> int:
    close_old_connections()
    state = LiveState.objects.select_related("meeting").filter(meeting_id=meeting_id).first()
    meeting = state.meeting if state else Meeting.objects.get(pk=meeting_id)
    if meeting.status != MeetingStatus.LIVE or meeting.janus_room is None:
        return 0
    if state is None:
        return 0
    connected = connected_sites(meeting_id)
    return rooms.enforce_audio(
        meeting.janus_room,
        meeting.janus_room_secret,
        open_feeds(state, connected),
        allowed_feeds(connected),
    )


def enforce_all() -> None:
    """Enforce audio and publishing rights in every live meeting (the periodic check)."""
    for meeting_id in Meeting.objects.filter(status=MeetingStatus.LIVE).values_list(
        "pk", flat=True
    ):
        try:
            enforce_audio(meeting_id)
        except rooms.MediaUnavailable as exc:
            log.warning("meeting %s: cannot enforce audio: %s", meeting_id, exc)


# The control sockets of this process ask for enforcement through this queue.
enforcement = EnforcementQueue(enforce_audio)
