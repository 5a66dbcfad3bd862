"""The sequence heartbeat (live/seqbeat.py, docs/live.md "Sequence numbers and reconnect"):
every control socket is told the meeting's current seq every few seconds, so that a page
that missed the last event of a quiet meeting (a full channel drops it) learns it is
behind, which the next event would otherwise have been the only way to show.
"""

from __future__ import annotations

import time

import pytest
from channels.layers import get_channel_layer

from diemcau.live import seqbeat, services
from tests.unit.test_live_media_status import Pages, Socket, cookies, pages

__all__ = ["cookies", "pages"]  # fixtures used below

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seqbeat, "BEAT_S", 0.3)
    monkeypatch.setattr(seqbeat, "REFRESH_S", 0.0)


async def _beat_reaching(socket: Socket, seq: int, within: float = 5.0) -> dict[str, object]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        message = await socket.next_of("seq")
        if message["seq"] >= seq:
            return message
    raise AssertionError(f"no beat with seq {seq} within {within} s")


async def test_a_phone_that_missed_the_last_event_is_told_it_is_behind(
    pages: Pages, fast: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = Socket(f"/ws/meetings/{pages.meeting.pk}/delegate/", pages.cookies["delegate"])
    snapshot = await phone.open()
    pages.open.append(phone)
    hq = await pages.connect("hq", "chair")
    # The announcement's event is lost on its way to the pages, as a full channel drops it.
    monkeypatch.setattr(services, "broadcast", lambda event: None)
    await hq.send({"type": "announce", "ref": 1, "text": "Nghỉ giải lao 15 phút"})
    ok = await hq.next_of("ok")
    assert ok["seq"] > snapshot["seq"]
    # No event will follow to show the gap: the heartbeat shows it.
    assert await _beat_reaching(phone, ok["seq"]) == {"type": "seq", "seq": ok["seq"]}


async def test_a_page_taken_out_of_the_meetings_group_is_back_in_it_after_a_beat(
    pages: Pages, fast: None
) -> None:
    site = await pages.connect("site", "a")
    hq = await pages.connect("hq", "chair")
    # As the in-memory layer does to a consumer whose queue held a message past its expiry.
    layer = get_channel_layer()
    assert layer is not None
    group = services.group_name(pages.meeting.pk)
    for channel in list(layer.groups.get(group, {})):
        await layer.group_discard(group, channel)
    await site.next_of("seq")  # a beat: its groups joined again
    await hq.send({"type": "announce", "ref": 2, "text": "Tiếp tục phiên họp"})
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        message = await site.receive()
        if message["type"] == "event" and message["kind"] == "announcement":
            assert message["state"]["announcement"] == "Tiếp tục phiên họp"
            return
    raise AssertionError("the page, out of the group, never got the announcement")


async def test_every_page_is_beaten_even_when_nothing_changes(pages: Pages, fast: None) -> None:
    site = Socket(f"/ws/meetings/{pages.meeting.pk}/site/", pages.cookies["a"])
    snapshot = await site.open()
    pages.open.append(site)
    beat = await site.next_of("seq")
    # Its own presence event came after the snapshot: the beat is at least the snapshot's.
    assert beat["seq"] >= snapshot["seq"]


async def test_an_event_relayed_here_raises_the_seq_without_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(seqbeat, "REFRESH_S", 3600.0)
    monkeypatch.setattr(seqbeat, "_latest", {})
    monkeypatch.setattr(seqbeat, "_read_at", {41: time.monotonic()})  # read just now
    seqbeat.seen(41, 7)
    seqbeat.seen(41, 5)  # an older event relayed late changes nothing
    assert await seqbeat.current(41) == 7
