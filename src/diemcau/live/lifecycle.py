"""A meeting's live life: started (its Janus room created, then the meeting recorded as
live) and ended (recorded, then the room destroyed), every page told.

The database is updated only once Janus has answered, so a meeting is never shown as live
without a room; the end is recorded even if Janus is unreachable.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.accounts.models import User
from diemcau.live import revoke
from diemcau.live import services as live_services
from diemcau.meetings import services as meeting_services
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.sfu import rooms

log = logging.getLogger(__name__)


def start_meeting(meeting: Meeting, by: User | None = None) -> Meeting:
    """scheduled → live: create the Janus room, then record it."""
    with transaction.atomic():
        locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
        if locked.status != MeetingStatus.SCHEDULED:
            raise ValidationError(
                _("Only a scheduled meeting can be started (this one is %(status)s).")
                % {"status": locked.get_status_display()}
            )
        publishers = locked.invitations.count() + 10
    room = rooms.create_room(
        description=locked.title[:100], publishers=publishers
    )  # raises rooms.MediaUnavailable
    try:
        with transaction.atomic():
            locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
            if locked.status != MeetingStatus.SCHEDULED:
                raise ValidationError(_("The meeting was started or cancelled meanwhile."))
            locked.status = MeetingStatus.LIVE
            locked.janus_room = room.room_id
            locked.janus_room_secret = room.secret
            locked.started_at = timezone.now()
            locked.save(update_fields=["status", "janus_room", "janus_room_secret", "started_at"])
    except Exception:
        # Do not leave an orphan room behind a failed write.
        rooms.destroy_room(room.room_id, room.secret, missing_ok=True)
        raise
    log.info("meeting %s started in Janus room %s", locked.pk, room.room_id)
    live_services.meeting_status_changed(locked.pk)
    return locked


def end_meeting(meeting: Meeting, by: User | None = None) -> Meeting:
    """live → ended: record the end, then destroy the room.

    The end is recorded even if Janus is unreachable (the meeting is over for everyone);
    the room then dies with Janus's own process or is destroyed on the next start-up check.
    """
    with transaction.atomic():
        locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
        if locked.status != MeetingStatus.LIVE:
            raise ValidationError(_("Only a live meeting can be ended."))
        room_id, secret = locked.janus_room, locked.janus_room_secret
        locked.status = MeetingStatus.ENDED
        locked.ended_at = timezone.now()
        locked.janus_room = None
        locked.janus_room_secret = ""
        locked.save(update_fields=["status", "ended_at", "janus_room", "janus_room_secret"])
    if room_id is not None:
        try:
            rooms.destroy_room(room_id, secret, missing_ok=True)
        except rooms.MediaUnavailable:
            log.warning(
                "meeting %s ended but Janus room %s could not be destroyed", locked.pk, room_id
            )
    live_services.meeting_status_changed(locked.pk)
    # Sites' pages and delegates' phones have been told; now they are closed.
    revoke.meeting_over(locked.pk)
    return locked


def cancel_meeting(meeting: Meeting, by: User | None = None) -> Meeting:
    """scheduled → cancelled: pages that were waiting are closed."""
    cancelled = meeting_services.cancel_meeting(meeting, by)
    live_services.meeting_status_changed(cancelled.pk)
    revoke.meeting_over(cancelled.pk)
    return cancelled
