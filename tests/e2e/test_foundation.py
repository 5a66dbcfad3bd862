"""A chair schedules and runs a meeting's lifecycle in a real browser against a real
installation (`diemcau serve`: embedded Janus + web app), and a site opens its join link."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.conftest import Installation, log_in

LIVE_ROOM = (
    "from diemcau.meetings.models import Meeting; "
    "print(Meeting.objects.get(status='live').janus_room)"
)
ROOM_EXISTS = "from diemcau.sfu.rooms import room_exists; print(room_exists(%d))"


def _login(page: Any, inst: Installation, username: str) -> None:
    log_in(page, inst.url, username, inst.passwords[username])


def test_chair_starts_and_ends_a_meeting_and_a_site_joins_by_link(
    installation: Installation, browser: Any
) -> None:
    chair = browser.new_context(locale="vi-VN")
    page = chair.new_page()
    _login(page, installation, "chutri")
    # The UI is Vietnamese by default and the demo meeting is listed.
    assert page.locator("html").get_attribute("lang") == "vi"
    # The stylesheet is served by the app itself (no web server in front).
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"
    page.click("a:text-is('Thông báo nhanh kết quả Đại hội (demo)')")
    page.wait_for_url(re.compile(r".*/meetings/\d+/$"))
    meeting_url = page.url
    links = page.locator("input[aria-label]").evaluate_all("els => els.map(e => e.value)")
    site_link = next(link for link in links if "/CSDN/" in link)
    other_link = next(link for link in links if "/CSDT/" in link)

    # Start: the server creates the Janus room; the page says the meeting is live.
    page.locator("form[action$='/do/start/'] button").click()
    page.wait_for_url(meeting_url)
    assert page.locator(".messages .success").count() == 1, page.content()
    assert page.locator("h1 .badge.live").count() == 1
    room = int(installation.manage("shell", "-c", LIVE_ROOM).split()[-1])
    assert installation.manage("shell", "-c", ROOM_EXISTS % room).split()[-1] == "True"

    # A site opens its link in another browser, without a password.
    site = browser.new_context(locale="vi-VN").new_page()
    site.goto(site_link)
    assert "Cao su Đồng Nai" in site.content()
    # Another site's token used at this site's address is refused with an explanation.
    token = other_link.rstrip("/").rsplit("/", 1)[1]
    forged = site_link.rstrip("/").rsplit("/", 1)[0] + "/" + token + "/"
    response = site.goto(forged)
    assert response is not None and response.status == 403

    # End: the room is destroyed and the page says so.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("form[action$='/do/end/'] button").click()
    page.wait_for_url(meeting_url)
    assert page.locator("h1 .badge.ended").count() == 1
    assert installation.manage("shell", "-c", ROOM_EXISTS % room).split()[-1] == "False"
    chair.close()
