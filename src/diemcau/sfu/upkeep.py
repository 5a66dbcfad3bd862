"""Keeping Janus in line with the meetings: rooms restored, rights enforced, in order.

* `restore_live_rooms`: Janus keeps rooms in memory only; after it restarts, each live
  meeting's room is re-created with its id and secret.
* `EnforcementQueue`: one enforcement run at a time per meeting (in this process), and at
  most one waiting, which reads the state when its turn comes: the last word is always the
  newest state. Across processes, the periodic check converges within seconds.
* `keep_rooms`: the periodic check `serve` runs: restore rooms, then enforce (the policy —
  who may publish, whose audio passes — is the caller's: live/media_policy.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from diemcau.meetings.models import Meeting, MeetingStatus

from . import rooms
from .link import MediaUnavailable

log = logging.getLogger(__name__)

CHECK_SECONDS = 10.0


def restore_live_rooms() -> list[int]:
    """Re-create the room of every live meeting that Janus no longer has.

    Same id and secret, so tokens already issued keep their meaning once re-added by the
    clients' next join.
    """
    restored: list[int] = []
    for meeting in Meeting.objects.filter(status=MeetingStatus.LIVE, janus_room__isnull=False):
        assert meeting.janus_room is not None
        if rooms.room_exists(meeting.janus_room):
            continue
        rooms.recreate_room(
            rooms.Room(meeting.janus_room, meeting.janus_room_secret),
            description=meeting.title[:100],
            publishers=meeting.invitations.count() + 10,
        )
        restored.append(meeting.pk)
        log.warning("re-created Janus room %s for live meeting %s", meeting.janus_room, meeting.pk)
    return restored


class EnforcementQueue:
    def __init__(self, enforce: Callable[[int], object]) -> None:
        self.enforce = enforce  # sync: reads the database, then tells Janus
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: set[int] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def soon(self, meeting_id: int) -> None:
        """Enforce for this meeting without holding up the caller."""
        task = asyncio.create_task(self.run(meeting_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)

    async def run(self, meeting_id: int) -> None:
        if meeting_id in self._waiting:
            return
        self._waiting.add(meeting_id)
        lock = self._locks.setdefault(meeting_id, asyncio.Lock())
        async with lock:
            self._waiting.discard(meeting_id)
            await sync_to_async(self.enforce, thread_sensitive=False)(meeting_id)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("enforcing audio failed: %s", task.exception())


async def keep_rooms(enforce_all: Callable[[], object], interval: float = CHECK_SECONDS) -> None:
    """Until cancelled: re-create lost rooms, then enforce everywhere (the safety net for
    mutes: a publisher that got past them — a race between two app processes, an impostor
    feed id — is corrected here)."""
    while True:
        try:
            await sync_to_async(restore_live_rooms, thread_sensitive=False)()
            await sync_to_async(enforce_all, thread_sensitive=False)()
        except MediaUnavailable as exc:
            log.warning("cannot check live rooms: %s", exc)
        await asyncio.sleep(interval)
