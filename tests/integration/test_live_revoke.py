"""Nobody stays where they no longer belong (issue 11, item 3): a revoked or expired link, a
withdrawn site, a meeting that ended, a disabled account and a logout close the sockets
they still have open within seconds, and a new socket with the same session is refused.

Through the real ASGI app and channel layer, as test_live_control.py (whose fixtures these
tests reuse). The Janus side (token out of `allowed`, feeds kicked) is in
test_meeting_rooms.py.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.utils import timezone

from diemcau.accounts.models import Role, User
from diemcau.live import lifecycle
from diemcau.live.revoke import CLOSE_ENDED, CLOSE_REVOKED
from diemcau.meetings import joinlinks
from diemcau.meetings.models import Meeting
from diemcau.meetings.services import revoke_join_link, save_meeting
from tests.conftest import MakeUser
from tests.integration import test_live_control as control
from tests.integration.test_live_control import LiveMeeting, Page, _refused, login_cookie

# The ten-site live meeting of test_live_control.py.
ten_site_meeting = control.ten_site_meeting
live = control.live

pytestmark = pytest.mark.django_db(transaction=True)

SECONDS = 3.0  # "within seconds": how long a page may stay open after it is revoked


async def closed_with(page: Page, live: LiveMeeting, within: float = SECONDS) -> int:
    """Read what the page is sent until the server closes it; the close code."""
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "the socket was not closed in time"
        message: dict[str, Any] = await page.comm.receive_output(timeout=left)
        if message["type"] == "websocket.close":
            await page.comm.disconnect(code=int(message["code"]))
            live.pages.remove(page)
            return int(message["code"])


async def still_open(page: Page) -> None:
    assert (await page.fresh_snapshot())["type"] == "snapshot"


def delegate_cookie(live: LiveMeeting, index: int) -> str:
    browser = Client()
    invitation = live.meeting.invitations.select_related("site").get(site=live.sites[index])
    assert browser.get(joinlinks.delegate_path(invitation)).status_code == 200
    return browser.cookies["sessionid"].value


async def test_revoking_a_link_closes_its_pages_and_phones_and_refuses_them_after(
    live: LiveMeeting,
) -> None:
    a, b = live.sites[0], live.sites[1]
    page_a, page_b = await live.site(a), await live.site(b)
    phone_cookie = await sync_to_async(delegate_cookie)(live, 0)
    phone = await live.open_page(f"/ws/meetings/{live.meeting.pk}/delegate/", phone_cookie)

    invitation = await live.meeting.invitations.aget(site=a)
    await sync_to_async(revoke_join_link)(invitation)

    assert await closed_with(page_a, live) == CLOSE_REVOKED
    assert await closed_with(phone, live) == CLOSE_REVOKED
    await still_open(page_b)
    # The same browser session cannot come back in; the new link can.
    path = f"/ws/meetings/{live.meeting.pk}/site/"
    assert await _refused(live, path, live.site_cookies[a.pk]) == CLOSE_REVOKED
    delegate_path = f"/ws/meetings/{live.meeting.pk}/delegate/"
    assert await _refused(live, delegate_path, phone_cookie) == CLOSE_REVOKED
    browser = Client()
    fresh = await sync_to_async(joinlinks.join_path)(await live.meeting.invitations.aget(site=a))
    assert (await sync_to_async(browser.get)(fresh)).status_code == 200
    await live.open_page(path, browser.cookies["sessionid"].value)


async def test_withdrawing_a_site_closes_its_page(live: LiveMeeting) -> None:
    a = live.sites[0]
    page_a, page_b = await live.site(a), await live.site(live.sites[1])

    def withdraw() -> None:
        meeting = Meeting.objects.get(pk=live.meeting.pk)
        save_meeting(meeting, sites=set(live.sites[1:]), agenda=None, by=None)

    await sync_to_async(withdraw)()
    assert await closed_with(page_a, live) == CLOSE_REVOKED
    await still_open(page_b)
    assert (
        await _refused(live, f"/ws/meetings/{live.meeting.pk}/site/", live.site_cookies[a.pk])
        == CLOSE_REVOKED
    )


async def test_a_link_that_expires_while_its_page_is_open_closes_it(
    live: LiveMeeting, settings: Any
) -> None:
    # The link stops working 2 s from now (the meeting's end + the grace period).
    settings.JOIN_LINK_GRACE_SECONDS = 0
    end = timezone.now() + timedelta(seconds=2)
    await Meeting.objects.filter(pk=live.meeting.pk).aupdate(end=end)
    browser = Client()
    invitation = await live.meeting.invitations.select_related("meeting", "site").aget(
        site=live.sites[0]
    )
    assert (
        await sync_to_async(browser.get)(await sync_to_async(joinlinks.join_path)(invitation))
    ).status_code == 200
    cookie = browser.cookies["sessionid"].value
    path = f"/ws/meetings/{live.meeting.pk}/site/"
    page = await live.open_page(path, cookie)
    assert await closed_with(page, live, within=2 + SECONDS) == CLOSE_REVOKED
    assert await _refused(live, path, cookie) == CLOSE_REVOKED


async def test_the_end_of_the_meeting_closes_sites_and_phones_after_telling_them(
    live: LiveMeeting,
) -> None:
    hq, page = await live.hq(), await live.site(live.sites[0])
    await Meeting.objects.filter(pk=live.meeting.pk).aupdate(janus_room=None)
    meeting = await Meeting.objects.aget(pk=live.meeting.pk)
    await sync_to_async(lifecycle.end_meeting)(meeting)

    # The last thing the page reads before the close says the meeting has ended.
    seen: list[str] = []
    deadline = time.monotonic() + SECONDS
    while True:
        message = await page.comm.receive_output(timeout=deadline - time.monotonic())
        if message["type"] == "websocket.close":
            assert int(message["code"]) == CLOSE_ENDED
            await page.comm.disconnect(code=CLOSE_ENDED)
            live.pages.remove(page)
            break
        seen.append(message["text"])
    assert any('"status":"ended"' in text.replace(" ", "") for text in seen), seen
    await still_open(hq)  # HQ stays with the record
    path = f"/ws/meetings/{live.meeting.pk}/site/"
    assert await _refused(live, path, live.site_cookies[live.sites[0].pk]) == CLOSE_ENDED


async def test_disabling_an_account_closes_its_console(
    live: LiveMeeting, make_user: MakeUser
) -> None:
    operator = await sync_to_async(make_user)(Role.HQ_OPERATOR, username="dieu-hanh")
    cookie = await sync_to_async(login_cookie)(operator)
    console, chair = await live.hq(cookie), await live.hq()

    def disable() -> None:
        user = User.objects.get(pk=operator.pk)
        user.is_active = False
        user.save()

    await sync_to_async(disable)()
    assert await closed_with(console, live) == CLOSE_REVOKED
    await still_open(chair)
    assert await _refused(live, f"/ws/meetings/{live.meeting.pk}/hq/", cookie) == 4403


async def test_disabling_an_account_logs_its_browsers_out_room_pages_too(
    live: LiveMeeting, make_user: MakeUser
) -> None:
    """A site operator who opened the room's link while logged in: disabling the account
    ends that browser session, the room page's grant with it."""
    site = live.sites[0]
    operator = await sync_to_async(make_user)(Role.SITE_OPERATOR, username="van-hanh", site=site)
    browser = Client()
    await sync_to_async(browser.force_login)(operator)
    invitation = await live.meeting.invitations.select_related("meeting", "site").aget(site=site)
    path = await sync_to_async(joinlinks.join_path)(invitation)
    assert (await sync_to_async(browser.get)(path)).status_code == 200
    cookie = browser.cookies["sessionid"].value
    room = await live.open_page(f"/ws/meetings/{live.meeting.pk}/site/", cookie)

    def disable() -> None:
        user = User.objects.get(pk=operator.pk)
        user.is_active = False
        user.save()

    await sync_to_async(disable)()
    assert await closed_with(room, live) == CLOSE_REVOKED
    assert await _refused(live, f"/ws/meetings/{live.meeting.pk}/site/", cookie) == 4403


async def test_logging_out_closes_that_sessions_console_only(
    live: LiveMeeting, make_user: MakeUser
) -> None:
    operator = await sync_to_async(make_user)(Role.HQ_OPERATOR, username="dieu-hanh")
    browser, other = Client(), Client()
    await sync_to_async(browser.force_login)(operator)
    await sync_to_async(other.force_login)(operator)
    console = await live.hq(browser.cookies["sessionid"].value)
    second = await live.hq(other.cookies["sessionid"].value)

    response = await sync_to_async(browser.post)("/accounts/logout/")
    assert response.status_code in (200, 302)
    assert await closed_with(console, live) == CLOSE_REVOKED
    await still_open(second)
