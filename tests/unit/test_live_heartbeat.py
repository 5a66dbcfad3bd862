"""The control socket's heartbeat (issue 12, item 6): a page pings, the server answers; a
site's room page that has pinged and then falls silent is shown to HQ as silent within
seconds (a cut link says nothing: TCP would take minutes), its gap recorded when it is heard
again, and it is dropped if the silence lasts. Docs: docs/live.md.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async

from diemcau.live import consumers
from diemcau.live.models import Attendance
from tests.unit.test_live_media_status import Pages, Socket, cookies, pages

__all__ = ["cookies", "pages"]  # fixtures used below

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> float:
    """The watchdog's limits made short, so a test waits a second or two, not ten."""
    monkeypatch.setattr(consumers, "SILENT_S", 0.6)
    monkeypatch.setattr(consumers, "WATCH_EVERY_S", 0.1)
    monkeypatch.setattr(consumers, "RESUME_SETTLE_S", 0.2)
    return 0.6


async def _settled() -> None:
    """Past the wait before a socket heard again is counted back."""
    await asyncio.sleep(consumers.RESUME_SETTLE_S + 0.3)


async def test_a_ping_is_answered_with_its_ref(pages: Pages) -> None:
    site = await pages.connect("site", "a")
    await site.send({"type": "ping", "ref": 41})
    assert await site.next_of("pong") == {"type": "pong", "ref": 41}


async def test_a_phone_may_ping_too(pages: Pages) -> None:
    phone = await pages.connect("delegate", "delegate")
    await phone.send({"type": "ping", "ref": 1})
    assert (await phone.next_of("pong"))["ref"] == 1


async def test_a_silent_site_page_is_shown_to_hq_then_its_gap_recorded_when_heard_again(
    pages: Pages, quick: float
) -> None:
    hq = await pages.connect("hq", "chair")
    site = await pages.connect("site", "a")
    await site.send({"type": "ping", "ref": 1})
    await site.next_of("pong")
    # Still talking: pings inside the limit keep it.
    for _ in range(4):
        await asyncio.sleep(quick / 2)
        await site.send({"type": "ping"})
    assert [m for m in await hq.received_until_quiet() if m["type"] == "link"] == []
    started = time.monotonic()
    told = await hq.next_of("link")
    took = time.monotonic() - started
    assert told == {"type": "link", "site": pages.site_a.pk, "silent": True}
    assert took < quick + 0.5, took
    # Not dropped: the socket is open and the record unchanged so far.
    row = await _last_attendance(pages)
    assert row.left_at is None
    await site.send({"type": "ping", "ref": 2})
    await _pong(site, 2)
    assert await hq.next_of("link") == {"type": "link", "site": pages.site_a.pk, "silent": False}
    # The gap is in the record: the row closed as dropped when the silence began.
    closed = await _attendance(pages, row.pk)
    assert closed.left_reason == "dropped" and closed.left_at is not None
    assert closed.left_at < closed.joined_at + timedelta(seconds=quick + 0.5 + 2 * quick)
    now_open = await _last_attendance(pages)
    assert now_open.pk != row.pk and now_open.left_at is None
    assert await _count_attendance(pages) == 2


async def test_a_silent_site_page_is_never_dropped_by_the_server(
    pages: Pages, quick: float
) -> None:
    """A late page (a busy PC, throttled timers) keeps its socket and its media: only the
    page gives up, when its own timers say the link is gone."""
    site = await pages.connect("site", "a")
    await site.send({"type": "ping", "ref": 1})
    await site.next_of("pong")
    await asyncio.sleep(quick * 6)
    await site.send({"type": "ping", "ref": 2})
    await _pong(site, 2)
    await _settled()
    assert await _count_attendance(pages) == 2  # one gap, recorded when heard again


async def test_a_page_that_gave_its_socket_up_during_a_cut_leaves_one_gap(
    pages: Pages, quick: float
) -> None:
    """A page that gave its socket up during a cut closed it; when the link returns, the
    pings it had queued arrive with that close right behind them, and its new socket opens.
    One gap in the record, not a resume of the abandoned socket in between."""
    site = await pages.connect("site", "a")
    await site.send({"type": "ping", "ref": 1})
    await site.next_of("pong")
    first = await _last_attendance(pages)
    await asyncio.sleep(quick * 2)  # the cut: silent
    for ref in (2, 3, 4):  # what it had queued
        await site.send({"type": "ping", "ref": ref})
    await site.close(code=1005)  # close() without a code, as control.js gives up
    await _settled()
    again = await pages.connect("site", "a")
    await again.send({"type": "ping", "ref": 5})
    await _pong(again, 5)
    rows = await _rows(pages)
    assert [(r.pk == first.pk, r.left_reason) for r in rows] == [(True, "dropped"), (False, "")]


async def test_a_site_whose_feeds_moved_to_the_new_row_keeps_them(
    pages: Pages, quick: float
) -> None:
    """Heard again after a silence, a site's feed ids follow its new attendance row: Janus
    must not kick a publisher that never went away."""
    from diemcau.live.models import LiveState

    site = await pages.connect("site", "a")
    await site.send({"type": "ping"})
    await site.next_of("pong")
    row = await _last_attendance(pages)

    @database_sync_to_async
    def give_feeds(conn: int) -> None:
        state = LiveState.objects.get(meeting=pages.meeting)
        state.feeds = {str(pages.site_a.pk): {"camera": 7, "screen": 8, "conn": conn}}
        state.save()

    @database_sync_to_async
    def feeds() -> dict[str, object]:
        return dict(LiveState.objects.get(meeting=pages.meeting).feeds)

    await give_feeds(row.pk)
    await asyncio.sleep(quick + 0.3)
    await site.send({"type": "ping", "ref": 3})
    await _pong(site, 3)
    await _settled()
    now_open = await _last_attendance(pages)
    assert now_open.pk != row.pk
    assert (await feeds())[str(pages.site_a.pk)] == {"camera": 7, "screen": 8, "conn": now_open.pk}


async def test_a_page_that_never_pings_is_not_watched(pages: Pages, quick: float) -> None:
    site = await pages.connect("site", "a")
    await asyncio.sleep(quick * 3)
    await site.send({"type": "ping", "ref": 2})
    await _pong(site, 2)
    row = await _last_attendance(pages)
    assert row.left_at is None


async def _pong(socket: Socket, ref: int) -> None:
    """Until the pong that answers `ref` (earlier pings' pongs are passed over)."""
    while (await socket.next_of("pong")).get("ref") != ref:
        pass


@database_sync_to_async
def _rows(pages: Pages) -> list[Attendance]:
    return list(Attendance.objects.filter(meeting=pages.meeting, site=pages.site_a).order_by("pk"))


@database_sync_to_async
def _last_attendance(pages: Pages) -> Attendance:
    return Attendance.objects.filter(meeting=pages.meeting, site=pages.site_a).latest("pk")


@database_sync_to_async
def _attendance(pages: Pages, pk: int) -> Attendance:
    return Attendance.objects.get(pk=pk)


@database_sync_to_async
def _count_attendance(pages: Pages) -> int:
    return Attendance.objects.filter(meeting=pages.meeting, site=pages.site_a).count()
