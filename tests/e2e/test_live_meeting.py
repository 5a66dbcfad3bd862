"""The live meeting in real browsers: HQ console and two site pages, against `diemcau serve`
(real app, real Janus). Chromium uses its fake camera and microphone."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from diemcau.media.client import JanusClient
from tests.e2e.conftest import Installation, log_in
from tests.support.peers import Subscriber, subscribe

LINKS = """
import json
from datetime import timedelta
from django.utils import timezone
from diemcau.meetings.models import Meeting
from diemcau.meetings.services import invited_sites, save_meeting
from diemcau.orgs.models import Site
from diemcau.meetings.joinlinks import delegate_path, join_path
start = timezone.now()
m = save_meeting(Meeting(title='Hội nghị trực tuyến e2e', start=start, end=start + timedelta(hours=2),
                         main_site=Site.objects.get(kind='main')),
                 sites=invited_sites(all_sites=True), agenda=None, by=None)
print(json.dumps({'meeting': m.pk, 'A': join_path(m.invitations.get(site__code='CSDN')),
                  'B': join_path(m.invitations.get(site__code='CSDT')),
                  'phone_A': delegate_path(m.invitations.get(site__code='CSDN')),
                  'sites': {c: m.invitations.get(site__code=c).site_id for c in ('CSDN', 'CSDT')}}))
"""

ACCESS = """
import json
from diemcau.meetings.models import Meeting
from django.conf import settings
from diemcau.sfu import rooms
m = Meeting.objects.get(title='Hội nghị trực tuyến e2e')
a = rooms.grant_access(m.janus_room, m.janus_room_secret)
print(json.dumps({'url': settings.JANUS.url, 'core': a.core_token, 'room': a.room_id, 'token': a.room_token}))
"""

FRAMES = """(sel) => { const v = document.querySelector(sel);
  return v && v.videoWidth > 0 ? v.getVideoPlaybackQuality().totalVideoFrames : -1; }"""

AUDIO_PACKETS = """async () => { const pc = window.diemcau.media?.sub?.webrtcStuff?.pc; if (!pc) return 0;
  let n = 0; (await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.packetsReceived; });
  return n; }"""


def named_feed(hq: Any, site_id: int) -> int:
    """The site's camera feed id as the server names it to pages (random, per connection)."""
    return int(
        wait_until(
            lambda: hq.evaluate(
                "(s) => (window.diemcau.control.state?.feeds || {})[String(s)]", site_id
            ),
            what=f"site {site_id}'s feed named",
        )
    )


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.2)


def vote_closed(page: Any) -> bool:
    return not state(page)["vote"]["open"]


def frames_advance(page: Any, selector: str, wait_ms: int = 700) -> bool:
    first = page.evaluate(FRAMES, selector)
    if first < 0:
        return False
    page.wait_for_timeout(wait_ms)
    return bool(page.evaluate(FRAMES, selector) > first)


def state(page: Any) -> dict[str, Any]:
    return page.evaluate("JSON.parse(JSON.stringify(window.diemcau.control.state))")


@pytest.fixture(scope="module")
def meeting_pages(installation: Installation, browser: Any) -> Any:
    links = json.loads(installation.manage("shell", "-c", LINKS).strip().splitlines()[-1])
    args = {"viewport": {"width": 1400, "height": 900}, "locale": "vi-VN"}
    hq = browser.new_context(**args).new_page()
    log_in(hq, installation.url, "chutri", installation.passwords["chutri"])
    hq.goto(f"{installation.url}/live/{links['meeting']}/console/")
    hq.locator("#start-form button").click()
    hq.wait_for_selector("#meeting-status.live")
    site_a = browser.new_context(**args).new_page()
    site_a.goto(installation.url + links["A"])
    site_b = browser.new_context(**args).new_page()
    site_b.goto(installation.url + links["B"])
    for page in (site_a, site_b):
        page.wait_for_selector("#media-status.good", timeout=30000)
    return hq, site_a, site_b, links


def test_roll_call_totals_count_both_sites(meeting_pages: Any) -> None:
    hq, site_a, site_b, _links = meeting_pages
    hq.click("#roll-open")
    for page, count in ((site_a, 27), (site_b, 31)):
        page.wait_for_selector("#rollcall:not([hidden])")
        page.fill("#rollcall-count", str(count))
        page.click("#rollcall-send")
    wait_until(
        lambda: (
            "3/26" not in hq.inner_text("#roll-totals") and "2/26" in hq.inner_text("#roll-totals")
        )
    )
    totals = state(hq)["roll_call"]["totals"]
    assert totals["sites_present"] == 2 and totals["delegates_present"] == 58
    assert "58" in hq.inner_text("#roll-totals")


def test_floor_granted_to_a_is_seen_and_heard_at_b_and_mute_holds_at_janus(
    meeting_pages: Any, installation: Installation
) -> None:
    hq, site_a, site_b, links = meeting_pages
    site_a.fill("#floor-topic", "Báo cáo sản lượng")
    site_a.click("#floor-request-btn")
    hq.wait_for_selector("#queue li .grant")
    assert "Báo cáo sản lượng" in hq.inner_text("#queue")
    hq.click("#queue li .grant")
    # B shows A beside the main source, the picture moves, and A's sound arrives.
    feed_a = named_feed(hq, links["sites"]["CSDN"])
    wait_until(
        lambda: site_b.get_attribute("#floor-video", "data-feed") == str(feed_a),
        what="A on B's page",
    )
    wait_until(lambda: frames_advance(site_b, "#floor-video"), what="A's video playing at B")
    assert (
        site_b.evaluate("document.querySelector('#floor-video').srcObject.getAudioTracks().length")
        == 1
    )
    first = site_b.evaluate(AUDIO_PACKETS)
    wait_until(lambda: site_b.evaluate(AUDIO_PACKETS) > first + 20, what="A's audio packets at B")
    # A's mic is open on its own page.
    assert "ON" in site_a.inner_text("#mic-btn") or "BẬT" in site_a.inner_text("#mic-btn").upper()

    # An independent subscriber straight on Janus hears A now... (its own event loop in a
    # thread: Playwright's sync API holds this thread's loop)
    access = json.loads(installation.manage("shell", "-c", ACCESS).strip().splitlines()[-1])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    client = JanusClient(access["url"], token=access["core"], reconnect=False)
    run(client.connect())
    sub: Subscriber = run(subscribe(client, access["room"], feed_a, access["token"]))

    def grows(seconds: float = 1.5) -> bool:
        before = run(sub.packets_received("audio"))
        time.sleep(seconds)
        return bool(run(sub.packets_received("audio")) > before)

    try:
        assert wait_until(grows, what="audio from A at the Janus subscriber")
        # ...the chair mutes A: Janus stops forwarding its audio,
        hq.click(".tile[data-code=CSDN]")
        hq.click("#enlarged-actions .danger")
        wait_until(lambda: not grows(), what="A's audio stopped at Janus")
        # ...even if A's page is tampered with to unmute itself.
        site_a.evaluate("window.diemcau.media.pub.unmuteAudio()")
        assert not grows(2.0)
    finally:
        run(sub.close())
        run(client.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
    hq.click("#enlarged-close")


def test_main_source_switched_to_b_shows_on_a(meeting_pages: Any) -> None:
    hq, site_a, _site_b, links = meeting_pages
    feed_b = named_feed(hq, links["sites"]["CSDT"])
    hq.select_option("#main-source", value=str(links["sites"]["CSDT"]))
    hq.click("#main-source-form button[type=submit]")
    wait_until(
        lambda: site_a.get_attribute("#main-video", "data-feed") == str(feed_b),
        what="B as main source on A",
    )
    wait_until(lambda: frames_advance(site_a, "#main-video"), what="B's video playing at A")
    assert "Dầu Tiếng" in site_a.inner_text("#main-label")
    # The subscription moved with VideoRoom `switch` (no renegotiation), not a new one.
    assert site_a.evaluate("window.diemcau.media.switches") >= 1


def test_chair_takes_the_floor_back(meeting_pages: Any) -> None:
    hq, site_a, site_b, _links = meeting_pages
    assert state(site_a)["floor"] is not None
    hq.click("#take-back")
    wait_until(
        lambda: state(site_a)["floor"] is None and state(site_b)["floor"] is None,
        what="floor ended everywhere",
    )
    assert site_a.is_hidden("#floor-holding") and site_a.is_visible("#floor-request")
    assert site_b.is_hidden("#floor-box")
    assert "Chưa có" in hq.inner_text("#floor-now")


def test_slides_shared_from_hq_show_on_every_site(meeting_pages: Any) -> None:
    hq, site_a, site_b, _links = meeting_pages
    hq.click("#screen-btn")
    for page in (site_a, site_b):
        wait_until(partial(page.is_visible, "#screen-box"), what="screen box shown")
        wait_until(partial(frames_advance, page, "#screen-video"), what="shared screen playing")
    hq.click("#screen-btn")  # stop sharing
    for page in (site_a, site_b):
        wait_until(partial(page.is_hidden, "#screen-box"), what="screen box hidden again")


def test_a_vote_across_two_sites_shows_its_result_everywhere(meeting_pages: Any) -> None:
    hq, site_a, site_b, _links = meeting_pages
    # One vote per site, quorum 0 so two of 26 sites suffice.
    hq.fill("#vote-text", "Thông qua chương trình hội nghị")
    hq.fill("#vote-quorum", "0")
    hq.click("#vote-form button[type=submit]")
    for page in (site_a, site_b):
        page.wait_for_selector("#vote-choices button")
        page.click("#vote-choices button >> nth=0")  # the first option: agree
    wait_until(lambda: state(hq)["vote"]["result"]["cast"] == 2, what="two ballots counted")
    hq.click("#vote-close")
    for page in (site_a, site_b):
        wait_until(partial(vote_closed, page), what="vote closed on the site")
        assert "2" in page.inner_text("#vote-status")
    result = state(site_a)["vote"]["result"]
    assert result["adopted"] and result["sites_voted"] == 2
    assert site_a.inner_text("#vote-status").endswith(hq.inner_text("#vote-result"))

    # Per delegate, counted by each site: never more than the delegates it reported (27, 31).
    hq.click("#vote-new")
    hq.fill("#vote-text", "Biểu quyết theo đại biểu")
    hq.select_option("#vote-counting", "delegates")
    hq.fill("#vote-quorum", "0")
    hq.click("#vote-form button[type=submit]")
    site_b.wait_for_selector("#vote-counts input")
    inputs = site_b.locator("#vote-counts input")
    inputs.nth(0).fill("40")
    site_b.click("#vote-counts button[type=submit]")
    site_b.wait_for_selector(".toast.error")
    assert state(site_b)["vote"]["voted"] == []
    inputs.nth(0).fill("30")
    inputs.nth(1).fill("1")
    site_b.click("#vote-counts button[type=submit]")
    site_a.wait_for_selector("#vote-counts input")
    a_inputs = site_a.locator("#vote-counts input")
    a_inputs.nth(0).fill("20")
    a_inputs.nth(1).fill("5")
    a_inputs.nth(2).fill("2")
    site_a.click("#vote-counts button[type=submit]")
    wait_until(lambda: state(hq)["vote"]["result"]["cast"] == 58, what="58 delegate votes")
    hq.click("#vote-close")
    wait_until(lambda: not state(site_b)["vote"]["open"], what="closed at B")
    tally = state(site_b)["vote"]["result"]["tally"]
    assert list(tally.values()) == [50, 6, 2]


VOTING_CODE = """
from diemcau.live import votingcodes
from diemcau.meetings.models import Invitation
invitation = Invitation.objects.get(meeting__title='Hội nghị trực tuyến e2e', site__code='CSDN')
print(votingcodes.codes_for(invitation)[0].text)
"""


def test_a_delegate_votes_from_a_phone(
    meeting_pages: Any, installation: Installation, browser: Any
) -> None:
    hq, _site_a, _site_b, links = meeting_pages
    phone = browser.new_context(locale="vi-VN", viewport={"width": 400, "height": 800}).new_page()
    phone.goto(installation.url + links["phone_A"])
    # The delegate's personal voting code, from the sheet the site handed out.
    code = installation.manage("shell", "-c", VOTING_CODE).strip().splitlines()[-1]
    phone.fill("#voting-code-form input[name=code]", code)
    phone.click("#voting-code-form button[type=submit]")
    phone.wait_for_selector("#voting-code")
    phone.wait_for_selector("#connection.good")
    hq.click("#vote-new")
    hq.fill("#vote-text", "Bầu chọn cá nhân")
    hq.select_option("#vote-counting", "individual")
    hq.fill("#vote-quorum", "0")
    hq.click("#vote-form button[type=submit]")
    phone.wait_for_selector("#vote-choices button")
    phone.click("#vote-choices button >> nth=1")
    wait_until(lambda: state(hq)["vote"]["result"]["cast"] == 1, what="the phone's vote counted")
    phone.wait_for_selector("#vote-choices button", state="detached")
    assert state(hq)["vote"]["ballots"] is None  # individual choices are not shown per site
    hq.click("#vote-close")
    # (wait_for_function evaluates a string, which our CSP forbids: evaluate is not eval)
    wait_until(
        lambda: phone.evaluate("() => !window.diemcau.control.state.vote.open"),
        what="the vote closed on the phone",
    )


def test_site_page_reloaded_comes_back_to_the_same_state(meeting_pages: Any) -> None:
    _hq, site_a, site_b, _links = meeting_pages
    before = state(site_b)
    site_b.reload()
    wait_until(
        lambda: site_b.evaluate("() => !!(window.diemcau && window.diemcau.control.state)"),
        what="B's state after the reload",
    )
    after = state(site_b)
    for section in ("main_source", "floor", "queue", "mics", "roll_call", "announcement", "screen"):
        assert after[section] == before[section], section
    site_b.wait_for_selector("#media-status.good", timeout=30000)
    # B is the main source: after the reload it is shown to A again (its new publisher).
    wait_until(lambda: frames_advance(site_a, "#main-video"), what="B's video back at A")


ATTENDANCE = """
from diemcau.live.models import Attendance
rows = Attendance.objects.filter(meeting__title='Hội nghị trực tuyến e2e', site__code='CSDN').order_by('joined_at')
print(';'.join(f"{r.left_reason or 'open'}" for r in rows))
"""


MINUTES_AFTER_CRASH = """
from diemcau.meetings.models import Meeting
from diemcau.minutes.selectors import build
r = build(Meeting.objects.get(title='Hội nghị trực tuyến e2e'))
a = next(s for s in r['sites'] if s['code'] == 'CSDN')
print(len(a['connections']), a['delegates'][0], [rc['delegates_present'] for rc in r['roll_calls']],
      len(r['votes']), r['votes'][0]['cast'], r['speakers'][0]['topic'])
"""


def test_pages_come_back_by_themselves_after_the_server_crashes(
    meeting_pages: Any, installation: Installation
) -> None:
    hq, site_a, _site_b, _links = meeting_pages
    installation.crash()  # SIGKILL: the web app and its Janus die at once
    wait_until(
        lambda: (
            "reconnecting" in (site_a.get_attribute("#connection", "class") or "")
            or "bad" in (site_a.get_attribute("#connection", "class") or "")
        ),
        what="A shows reconnecting",
    )
    installation.start()
    # Control connection, then media (new Janus session, room re-created by the server).
    site_a.wait_for_selector("#connection.good", timeout=30000)
    site_a.wait_for_selector("#media-status.good", timeout=45000)
    wait_until(
        lambda: frames_advance(site_a, "#main-video"),
        timeout=45,
        what="main source playing again at A",
    )
    hq.wait_for_selector("#connection.good", timeout=30000)
    # Attendance shows the gap: the first connection was dropped, a new one is open.
    rows = installation.manage("shell", "-c", ATTENDANCE).strip().splitlines()[-1].split(";")
    assert rows[-1] == "open" and "dropped" in rows[:-1], rows
    # The minutes still list every join, roll call, vote and speaker made before the crash.
    line = installation.manage("shell", "-c", MINUTES_AFTER_CRASH).strip().splitlines()[-1]
    connections, delegates, roll_calls, votes, cast, topic = line.split(" ", 5)
    assert int(connections) >= 2 and delegates == "27" and roll_calls == "[58]"
    assert int(votes) == 3 and cast == "2" and topic == "Báo cáo sản lượng"
