"""The sequence heartbeat (docs/live.md, "Sequence numbers and reconnect").

A page learns that it missed an event only when the next one arrives, so a page that
missed the last change of a quiet meeting — a slow consumer whose channel was full: the
channel layer drops what does not fit, with the in-memory default as with Redis — would
keep a stale state until somebody changes something. Every open control socket is
therefore sent the meeting's current `seq` every BEAT_S (`{"type": "seq", "seq": N}`); a
page that is behind asks for a snapshot (static/live/control.js).

The current `seq` is kept per process: raised by every event the process relays, and read
from the database at most once per REFRESH_S per meeting — not once per socket — so that
a process which relayed nothing of a change (each of its sockets missed it) still learns it.
"""

from __future__ import annotations

import math
import time

from channels.db import database_sync_to_async

from diemcau.live.models import LiveState

BEAT_S = 10.0
REFRESH_S = 5.0

_latest: dict[int, int] = {}
_read_at: dict[int, float] = {}


def seen(meeting_id: int, seq: int) -> None:
    """An event of the meeting passed through this process."""
    if seq > _latest.get(meeting_id, 0):
        _latest[meeting_id] = seq


def _stored(meeting_id: int) -> int:
    seq = LiveState.objects.filter(meeting_id=meeting_id).values_list("seq", flat=True).first()
    return int(seq or 0)


async def current(meeting_id: int) -> int:
    """The meeting's latest `seq` as this process knows it (the database's, at most
    REFRESH_S old, or a newer event's)."""
    now = time.monotonic()
    if now - _read_at.get(meeting_id, -math.inf) >= REFRESH_S:
        _read_at[meeting_id] = now  # before the read: concurrent callers use the cache
        # The database is the truth. An event relayed while it was read may be newer and
        # is then forgotten until the next: a page told a lower seq than its own ignores it.
        _latest[meeting_id] = await database_sync_to_async(_stored)(meeting_id)
    return _latest.get(meeting_id, 0)
