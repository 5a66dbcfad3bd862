"""Who may publish and whose audio passes, decided by the server, carried out by Janus.

Clients subscribe by the same rule (static/live/policy.js): a site receives the main source
and the floor (high layer) and the shared screen; HQ receives every site at the lowest
layer, and a high layer for the one it enlarges; audio only from sites whose mic is open.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.accounts.permissions import is_hq_staff
from diemcau.live import linkpolicy, revoke, services
from diemcau.live import state as live_state
from diemcau.live.actions import NOT_ALLOWED, NOT_INVITED, NOT_LIVE
from diemcau.live.models import Attendance, LiveState
from diemcau.live.services import Actor, Refused
from diemcau.meetings.models import Invitation, Meeting, MeetingStatus
from diemcau.sfu import rooms
from diemcau.sfu.feeds import CAMERA, SLOTS
from diemcau.sfu.upkeep import EnforcementQueue
from diemcau.turn import credentials as turn_credentials

log = logging.getLogger(__name__)

# How long a `media.published` report waits for Janus to list the page's camera.
PUBLISHED_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class _Grant:
    """What the database said a page may have; Janus is asked afterwards."""

    room_id: int
    room_secret: str
    room_token: str  # this participant's own (live/revoke.py takes it away)
    camera: int
    screen: int
    replaced: tuple[int, ...]  # the site's ids before: kicked so they stop at once
    ice_servers: list[dict[str, object]]


def _checked(actor: Actor, host: str, connection: int | None = None) -> _Grant:
    """Checked again on every request, not only when the socket opened: a site whose
    invitation was withdrawn, or an account disabled since, gets nothing. Then the
    connection's own publisher ids are issued (`connection`: its attendance row)."""
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
        token_for = revoke.hq_participant(meeting.pk, current.pk)
    else:
        invitation = Invitation.objects.filter(meeting=meeting, site_id=actor.site_id).first()
        if invitation is None:
            raise Refused(NOT_INVITED, _("This site is no longer invited to the meeting."))
        if invitation.nonce != actor.link:
            raise Refused(NOT_ALLOWED, _("This join link has been replaced by a newer one."))
        participant = f"m{meeting.pk}-s{actor.site_id}"
        token_for = revoke.site_participant(meeting.pk, actor.site_id, invitation.nonce)
    feeds = services.issue_feeds(actor, connection)
    return _Grant(
        room_id=meeting.janus_room,
        room_secret=meeting.janus_room_secret,
        room_token=revoke.room_token(meeting.janus_room_secret, token_for),
        camera=feeds.camera,
        screen=feeds.screen,
        replaced=feeds.replaced,
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


def access_for(actor: Actor, host: str = "", connection: int | None = None) -> dict[str, Any]:
    """Janus tokens for this page, fresh random feed ids of its own, TURN credentials.

    `host` is the name the page was opened at (the TURN URLs use it when the front serves
    that name); `connection` the page's attendance row (its ids go when it closes)."""
    grant = _checked(actor, host, connection)
    return _reply(
        grant,
        rooms.grant_access(grant.room_id, grant.room_secret, grant.replaced, grant.room_token),
    )


async def aaccess_for(
    actor: Actor, host: str = "", connection: int | None = None
) -> dict[str, Any]:
    """`access_for` from the control socket: the database part on a worker thread, the
    Janus part on the Janus link, so a burst of joins holds up no thread."""
    grant = await database_sync_to_async(_checked)(actor, host, connection)
    access = await rooms.agrant_access(
        grant.room_id, grant.room_secret, grant.replaced, grant.room_token
    )
    return _reply(grant, access)


def published(actor: Actor, connection: int | None) -> bool:
    """The page says its camera is published: apply the site's mute to it in Janus, then
    name it to the pages, so nobody subscribes to a re-joined publisher before its mute
    holds. False if Janus does not have it (yet)."""
    meeting = Meeting.objects.get(pk=actor.meeting_id)
    if meeting.status != MeetingStatus.LIVE or meeting.janus_room is None:
        raise Refused(NOT_LIVE, _("The meeting is not live."))
    deadline = time.monotonic() + PUBLISHED_WAIT_SECONDS
    while True:
        # Janus lists a publisher once its streams are up, which may be a moment after the
        # page's report (a page that reports on `configured`, before ICE is done).
        enforce_audio(actor.meeting_id)
        present = set(rooms.publisher_feeds(meeting.janus_room, meeting.janus_room_secret))
        try:
            services.feeds_published(actor, connection, present)
        except Refused:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
            continue
        return True


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


def _issued(state: LiveState, site_id: int) -> dict[str, Any]:
    entry = state.feeds.get(str(site_id))
    return entry if isinstance(entry, dict) else {}


def open_feeds(state: LiveState, connected: set[int]) -> set[int]:
    """Whose audio Janus lets through: open microphones of sites that are connected."""
    return {
        int(_issued(state, s)[CAMERA])
        for s in connected
        if CAMERA in _issued(state, s) and live_state.audio_open(state, s)
    }


def allowed_feeds(state: LiveState, connected: set[int]) -> set[int]:
    """Who may publish at all: the ids issued to the current connection of each connected
    site (random, so not guessable; a re-join gets new ones and the old are kicked)."""
    return {
        int(_issued(state, s)[slot])
        for s in connected
        for slot in SLOTS
        if slot in _issued(state, s)
    }


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
        allowed_feeds(state, connected),
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


# --- the layers each site receives (live/linkpolicy.py) -----------------------------------

# The policy's state per site, in the process holding the site's socket (a site's room page
# is one socket): its recent reports. Only a decision that changes reaches the database.
_trackers: dict[tuple[int, int], linkpolicy.LinkTracker] = {}


def link_report(actor: Actor, report: linkpolicy.Report) -> services.Event | None:
    """A site page's downlink report (its `quality` message): the site's layers change when
    the policy decides so, and only then (`services.link_decided`)."""
    key = _key(actor)
    tracker = _trackers.get(key) or _trackers.setdefault(
        key, linkpolicy.LinkTracker(layer=services.auto_link_of(*key))
    )
    decision = tracker.observe(report)
    return _decided(actor, decision) if decision is not None else None


async def alink_report(actor: Actor, report: linkpolicy.Report) -> services.Event | None:
    """`link_report` from the control socket: a report that changes nothing touches no
    database (it comes every 2 s from every site)."""
    key = _key(actor)
    tracker = _trackers.get(key)
    if tracker is None:
        seed = await database_sync_to_async(services.auto_link_of)(*key)
        tracker = _trackers.setdefault(key, linkpolicy.LinkTracker(layer=seed))
    decision = tracker.observe(report)
    if decision is None:
        return None
    return await database_sync_to_async(_decided)(actor, decision)


def forget_link(actor: Actor) -> None:
    """The site's socket closed: a new one starts from the layer recorded for the site."""
    if actor.site_id is not None:
        _trackers.pop(_key(actor), None)


def _key(actor: Actor) -> tuple[int, int]:
    if actor.site_id is None:
        raise Refused(NOT_ALLOWED, _("This connection does not act for a site."))
    return actor.meeting_id, actor.site_id


def _decided(actor: Actor, decision: linkpolicy.Decision) -> services.Event | None:
    try:
        return services.link_decided(actor, decision)
    except Refused as exc:
        # Not recorded (the site withdrawn, the meeting over): start again from the record.
        log.info("layer decision for %s not recorded: %s", actor, exc)
        forget_link(actor)
        return None


# The control sockets of this process ask for enforcement through this queue.
enforcement = EnforcementQueue(enforce_audio)
