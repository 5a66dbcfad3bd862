"""The control WebSocket through the real ASGI app: a live meeting with ten invited sites.

Site pages get their session the way a browser does, by opening their join link; HQ pages
by logging in. Every page keeps a copy of the state the way static/live/control.js does
(snapshot, then event sections merged in sequence order), so the tests can compare what
clients hold with what the server would send afresh. Docs: docs/live.md.
"""

# The test WebSocket's `timeout` arguments mirror channels' WebsocketCommunicator.
# ruff: noqa: ASYNC109

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.test import Client
from django.utils import timezone

from diemcau.accounts.models import Role
from diemcau.asgi import application
from diemcau.live.models import Attendance, RollCall
from diemcau.live.revoke import CLOSE_FORBIDDEN
from diemcau.meetings import joinlinks
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.meetings.services import save_meeting
from diemcau.orgs.models import Site
from tests.asgisocket import websocket_scope
from tests.conftest import MakeUser, Org

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10.0  # seconds a page waits for one message before the test fails
_refs = itertools.count(1)


# asgiref's testing module is untyped: reached through Any.
_ApplicationCommunicator: Any = ApplicationCommunicator


class WebsocketCommunicator:
    """channels.testing.WebsocketCommunicator, which cannot be imported here: the
    channels.testing package also imports daphne, which this project does not install."""

    def __init__(self, path: str, cookie: str | None) -> None:
        self.app = _ApplicationCommunicator(application, websocket_scope(path, cookie))

    async def connect(self, timeout: float) -> bool:
        await self.app.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        return bool(response["type"] == "websocket.accept")

    async def receive_output(self, timeout: float) -> dict[str, Any]:
        response: dict[str, Any] = await self.app.receive_output(timeout)
        return response

    async def send_json_to(self, data: dict[str, Any]) -> None:
        await self.app.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def receive_json_from(self, timeout: float) -> Any:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int, timeout: float = TIMEOUT) -> None:
        await self.app.send_input({"type": "websocket.disconnect", "code": code})
        await self.app.wait(timeout)


@dataclass
class Page:
    """One connected page: its socket and the state it has built from what it received."""

    comm: WebsocketCommunicator
    you: dict[str, Any]
    snapshot_seq: int
    state: dict[str, Any]
    seq: int
    # seq of every event applied after the snapshot, in the order received.
    applied: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    replies: dict[Any, dict[str, Any]] = field(default_factory=dict)

    async def _next(self) -> dict[str, Any]:
        message: dict[str, Any] = await self.comm.receive_json_from(timeout=TIMEOUT)
        if message["type"] == "event":
            self._apply(message)
        elif message["type"] == "snapshot":
            self.state, self.seq = message["state"], message["seq"]
        elif "ref" in message:
            self.replies[message["ref"]] = message
        return message

    def _apply(self, event: dict[str, Any]) -> None:
        # As control.js: an event the snapshot already contains is skipped.
        if event["seq"] <= self.seq:
            return
        self.applied.append(event["seq"])
        self.kinds.append(event["kind"])
        self.seq = event["seq"]
        self.state.update(event["state"])
        if "message" in event:
            self.state["chat"] = [*self.state.get("chat", []), event["message"]][-50:]

    async def until_seq(self, seq: int) -> None:
        while self.seq < seq:
            await self._next()

    async def send(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request and return the server's reply to it (events keep being applied)."""
        ref = next(_refs)
        await self.comm.send_json_to({**message, "ref": ref})
        while ref not in self.replies:
            await self._next()
        return self.replies.pop(ref)

    async def ok(self, message: dict[str, Any]) -> int:
        reply = await self.send(message)
        assert reply["type"] == "ok", reply
        return int(reply["seq"])

    async def fresh_snapshot(self) -> dict[str, Any]:
        await self.comm.send_json_to({"type": "snapshot"})
        while True:
            message: dict[str, Any] = await self.comm.receive_json_from(timeout=TIMEOUT)
            if message["type"] == "snapshot":
                return message
            if message["type"] == "event":
                self._apply(message)


@dataclass
class LiveMeeting:
    meeting: Meeting
    sites: list[Site]  # the ten invited branch sites, in invitation order
    main: Site
    site_cookies: dict[int, str]  # site id -> sessionid set by opening its join link
    chair_cookie: str
    pages: list[Page] = field(default_factory=list)

    async def connect(self, path: str, cookie: str | None) -> WebsocketCommunicator:
        comm = WebsocketCommunicator(path, cookie)
        assert await comm.connect(timeout=TIMEOUT)
        return comm

    async def open_page(self, path: str, cookie: str | None) -> Page:
        comm = await self.connect(path, cookie)
        first: dict[str, Any] = await comm.receive_json_from(timeout=TIMEOUT)
        assert first["type"] == "snapshot", first
        page = Page(comm, first["you"], first["seq"], first["state"], first["seq"])
        self.pages.append(page)
        return page

    async def site(self, site: Site) -> Page:
        return await self.open_page(
            f"/ws/meetings/{self.meeting.pk}/site/", self.site_cookies[site.pk]
        )

    async def hq(self, cookie: str | None = None) -> Page:
        return await self.open_page(
            f"/ws/meetings/{self.meeting.pk}/hq/", cookie or self.chair_cookie
        )

    async def close(self, page: Page, code: int = 1000) -> None:
        await page.comm.disconnect(code=code)
        self.pages.remove(page)


def login_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
def ten_site_meeting(org: Org, make_user: MakeUser) -> LiveMeeting:
    more = [
        Site.objects.create(
            code=f"NT{i:02d}", name=f"Nông trường {i}", unit=org.corp, expected_delegates=10 + i
        )
        for i in range(3, 11)
    ]
    sites = [org.site_a, org.site_b, *more]
    start = timezone.now() - timedelta(minutes=5)
    meeting = save_meeting(
        Meeting(
            title="Hội nghị sơ kết quý",
            start=start,
            end=start + timedelta(hours=2),
            main_site=org.main,
        ),
        sites=set(sites),
        agenda=None,
        by=None,
    )
    # No media in these tests: live without a Janus room.
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.LIVE)
    cookies: dict[int, str] = {}
    for site in sites:
        browser = Client()
        invitation = meeting.invitations.select_related("site").get(site=site)
        response = browser.get(joinlinks.join_path(invitation))
        assert response.status_code == 200
        cookies[site.pk] = browser.cookies["sessionid"].value
    chair = make_user(Role.CHAIR, username="chu-toa")
    return LiveMeeting(meeting, sites, org.main, cookies, login_cookie(chair))


@pytest_asyncio.fixture
async def live(ten_site_meeting: LiveMeeting) -> AsyncIterator[LiveMeeting]:
    yield ten_site_meeting
    for page in list(ten_site_meeting.pages):
        await ten_site_meeting.close(page)


async def everyone(live: LiveMeeting) -> tuple[Page, list[Page]]:
    hq = await live.hq()
    sites = [await live.site(site) for site in live.sites]
    await sync(hq, *sites)
    return hq, sites


async def sync(*pages: Page) -> None:
    """Bring every page up to the newest seq any of them has seen."""
    newest = max(p.seq for p in pages)
    for page in pages:
        await page.until_seq(newest)


def queue_sites(page: Page) -> list[int]:
    return [item["site"] for item in page.state["queue"]]


# --- floor ----------------------------------------------------------------------------


async def test_floor_requests_keep_their_order_in_the_queue_on_every_page(
    live: LiveMeeting,
) -> None:
    hq, sites = await everyone(live)
    order = [4, 0, 9, 2, 7, 1, 8, 3, 6, 5]  # not the invitation order
    for i in order:
        last = await sites[i].ok({"type": "floor.request", "topic": f"Ý kiến {i}"})
    expected = [live.sites[i].pk for i in order]
    for page in [hq, *sites]:
        await page.until_seq(last)
        assert queue_sites(page) == expected
        assert [item["topic"] for item in page.state["queue"]] == [f"Ý kiến {i}" for i in order]


async def test_granting_the_first_request_gives_every_site_the_floor_and_shrinks_the_queue(
    live: LiveMeeting,
) -> None:
    hq, sites = await everyone(live)
    for page in sites:
        last = await page.ok({"type": "floor.request"})
    await hq.until_seq(last)
    first = hq.state["queue"][0]
    seq = await hq.ok({"type": "floor.grant", "request": first["id"]})
    for page in [hq, *sites]:
        await page.until_seq(seq)
        assert page.state["floor"]["site"] == first["site"] == live.sites[0].pk
        assert queue_sites(page) == [s.pk for s in live.sites[1:]]
        assert first["site"] in page.state["mics"]["open"]
        assert page.kinds[-1] == "floor.granted"


async def test_a_site_already_waiting_cannot_queue_twice(live: LiveMeeting) -> None:
    page = await live.site(live.sites[0])
    await page.ok({"type": "floor.request"})
    reply = await page.send({"type": "floor.request"})
    assert reply["type"] == "error" and reply["request"] == "floor.request"
    assert len(page.state["queue"]) == 1


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"type": "floor.grant", "site": "self"}, id="floor.grant"),
        pytest.param({"type": "mute", "site": "other", "mute": True}, id="mute-other-site"),
        pytest.param({"type": "mute.all"}, id="mute.all"),
        pytest.param({"type": "main_source.set", "site": "self"}, id="main_source.set"),
        pytest.param({"type": "roll_call.open"}, id="roll_call.open"),
        pytest.param({"type": "floor.take_back"}, id="floor.take_back"),
        pytest.param({"type": "announce", "text": "Giả mạo"}, id="announce"),
    ],
)
async def test_site_page_cannot_run_the_meeting(
    live: LiveMeeting, request_: dict[str, Any]
) -> None:
    hq = await live.hq()
    own, other = live.sites[0], live.sites[1]
    page = await live.site(own)
    other_page = await live.site(other)
    await sync(hq, page, other_page)
    before = await hq.fresh_snapshot()

    sites = {"self": own.pk, "other": other.pk}
    message = {k: sites.get(v, v) if k == "site" else v for k, v in request_.items()}
    reply = await page.send(message)

    assert reply["type"] == "error", reply
    assert reply["request"] == message["type"]
    assert reply["message"]  # says why (in the installation's language)
    after = await hq.fresh_snapshot()
    assert after == before  # same seq, same state: nothing happened


async def test_site_operator_logged_in_on_a_site_page_still_acts_only_for_its_site(
    live: LiveMeeting, make_user: MakeUser
) -> None:
    """Being logged in does not lift a site page's limits: the site socket ignores the user."""

    def operator_opens_join_link() -> str:
        browser = Client()
        browser.force_login(make_user(Role.SITE_OPERATOR, site=live.sites[0]))
        invitation = live.meeting.invitations.select_related("site").get(site=live.sites[0])
        assert browser.get(joinlinks.join_path(invitation)).status_code == 200
        return browser.cookies["sessionid"].value

    cookie = await sync_to_async(operator_opens_join_link)()
    page = await live.open_page(f"/ws/meetings/{live.meeting.pk}/site/", cookie)
    assert page.you == {"site": live.sites[0].pk, "hq": False, "chair": False, "voted": None}
    reply = await page.send({"type": "floor.grant", "site": live.sites[0].pk})
    assert reply["type"] == "error"
    assert page.state["floor"] is None


# --- roll call ------------------------------------------------------------------------


async def test_roll_call_answer_lands_on_the_senders_own_site(live: LiveMeeting) -> None:
    hq = await live.hq()
    a, b = live.sites[0], live.sites[1]
    page_a = await live.site(a)
    await hq.ok({"type": "roll_call.open"})
    # The message has no site field; one sneaked in is ignored.
    seq = await page_a.ok({"type": "roll_call.answer", "delegates": 12, "site": b.pk})
    await hq.until_seq(seq)
    assert hq.state["roll_call"]["answers"] == {str(a.pk): 12}


@pytest.mark.parametrize("delegates", [-1, "12", True, False, 1.5, None, 10_001, [3]])
async def test_roll_call_refuses_a_delegate_count_that_is_not_a_whole_number_in_range(
    live: LiveMeeting, delegates: Any
) -> None:
    hq = await live.hq()
    page = await live.site(live.sites[0])
    seq = await hq.ok({"type": "roll_call.open"})
    reply = await page.send({"type": "roll_call.answer", "delegates": delegates})
    assert reply["type"] == "error", reply
    assert repr(delegates) in reply["message"] or str(delegates) in reply["message"]
    after = await hq.fresh_snapshot()
    assert after["seq"] == seq
    assert after["state"]["roll_call"]["answers"] == {}


async def test_roll_call_totals_count_sites_and_delegates_after_a_correction(
    live: LiveMeeting,
) -> None:
    hq, sites = await everyone(live)
    await hq.ok({"type": "roll_call.open"})
    answers = {0: 30, 1: 20, 2: 13, 5: 0}
    for i, n in answers.items():
        await sites[i].ok({"type": "roll_call.answer", "delegates": n})
    # Site 1 counted again: 22, not 20. A correction replaces, it does not add.
    seq = await sites[1].ok({"type": "roll_call.answer", "delegates": 22})
    seq = max(seq, await hq.ok({"type": "roll_call.answer", "delegates": 38}))  # HQ's own room

    expected = await sync_to_async(
        lambda: sum(
            Site.objects.filter(invitations__meeting=live.meeting).values_list(
                "expected_delegates", flat=True
            )
        )
    )()
    for page in [hq, *sites]:
        await page.until_seq(seq)
        roll = page.state["roll_call"]
        assert roll["open"] is True and roll["number"] == 1
        assert roll["totals"] == {
            "sites_present": 5,
            "sites_invited": 11,
            "delegates_present": 30 + 22 + 13 + 0 + 38,
            "delegates_expected": expected,
        }
        assert roll["answers"][str(live.sites[1].pk)] == 22
        assert roll["answers"][str(live.main.pk)] == 38


async def test_every_roll_call_is_kept(live: LiveMeeting) -> None:
    hq = await live.hq()
    page = await live.site(live.sites[0])
    for n in (25, 27, 28):
        await hq.ok({"type": "roll_call.open"})  # opening the next closes the previous
        await page.ok({"type": "roll_call.answer", "delegates": n})
    seq = await hq.ok({"type": "roll_call.close"})
    await hq.until_seq(seq)
    assert hq.state["roll_call"]["number"] == 3
    assert hq.state["roll_call"]["count"] == 3
    assert hq.state["roll_call"]["open"] is False
    kept = await sync_to_async(
        lambda: [
            (r.number, r.closed_at is not None, r.answers.get().delegates_present)
            for r in RollCall.objects.filter(meeting=live.meeting).order_by("number")
        ]
    )()
    assert kept == [(1, True, 25), (2, True, 27), (3, True, 28)]
    reply = await page.send({"type": "roll_call.answer", "delegates": 29})
    assert reply["type"] == "error"  # closed: no late answers


# --- sequence numbers and reconnect -----------------------------------------------------


async def test_event_seq_rises_by_one_as_seen_by_one_page(live: LiveMeeting) -> None:
    hq, sites = await everyone(live)
    start = hq.snapshot_seq
    for page in sites[:5]:
        await page.ok({"type": "floor.request"})
    await hq.ok({"type": "floor.grant", "site": live.sites[0].pk})
    await hq.ok({"type": "mute", "site": live.sites[3].pk, "mute": True})
    await sites[2].ok({"type": "chat.send", "text": "Nghe rõ"})
    await live.close(sites[9], code=1001)
    seq = await hq.ok({"type": "roll_call.open"})
    await hq.until_seq(seq)
    # HQ was connected before anything happened: it saw every event exactly once, in order.
    assert hq.applied == list(range(start + 1, seq + 1))
    # A page that connected later skipped what its snapshot held, then saw every event.
    late = sites[8]
    await late.until_seq(seq)
    assert late.applied == list(range(late.snapshot_seq + 1, seq + 1))


async def test_state_after_reconnect_equals_the_state_other_pages_built_from_events(
    live: LiveMeeting,
) -> None:
    hq, sites = await everyone(live)
    s = live.sites
    for page in sites[:6]:
        seq = await page.ok({"type": "floor.request", "topic": "Báo cáo tiến độ"})
    await hq.until_seq(seq)
    await hq.ok({"type": "floor.grant", "request": hq.state["queue"][0]["id"]})
    await sites[0].ok({"type": "screen.set", "sharing": True})
    await hq.ok({"type": "roll_call.open"})
    await sites[3].ok({"type": "roll_call.answer", "delegates": 17})

    leaving = sites[4]
    await live.close(leaving, code=1006)  # dropped, comes back below

    # Things the page misses while away.
    await hq.until_seq(await sites[5].ok({"type": "floor.cancel"}))
    await hq.ok({"type": "floor.decline", "request": hq.state["queue"][-1]["id"]})
    await hq.ok({"type": "mute", "site": s[7].pk, "mute": True})
    await hq.ok({"type": "mute", "site": s[8].pk, "mute": False})  # open mic
    await hq.ok({"type": "main_source.set", "site": s[2].pk})
    await sites[3].ok({"type": "roll_call.answer", "delegates": 18})
    await sites[1].ok({"type": "chat.send", "text": "Điểm cầu 2 đã sẵn sàng"})
    await hq.ok({"type": "announce", "text": "Nghỉ giải lao 10 phút"})
    await hq.ok({"type": "floor.take_back"})

    back = await live.site(s[4])
    assert back.state["presence"][str(s[4].pk)] == "connected"
    for page in [hq, *sites[:4], *sites[5:]]:
        await page.until_seq(back.snapshot_seq)
        assert page.seq == back.snapshot_seq
        assert page.state == back.state, f"page {page.you} differs from a fresh snapshot"
    # And the state really moved on while the page was away.
    assert back.state["main_source"] == s[2].pk
    assert back.state["floor"] is None
    assert back.state["mics"]["muted"] == [s[7].pk]
    assert back.state["announcement"] == "Nghỉ giải lao 10 phút"


# --- presence and attendance ---------------------------------------------------------


async def test_dropped_connection_leaves_a_gap_in_attendance_and_shows_reconnecting(
    live: LiveMeeting,
) -> None:
    hq = await live.hq()
    site = live.sites[0]
    page = await live.site(site)
    await hq.until_seq(page.snapshot_seq)
    assert hq.state["presence"][str(site.pk)] == "connected"

    await live.close(page, code=1006)  # abnormal closure: the link dropped
    await hq.until_seq(page.snapshot_seq + 1)
    assert hq.state["presence"][str(site.pk)] == "reconnecting"
    dropped = await sync_to_async(Attendance.objects.get)(meeting=live.meeting, site=site)
    assert dropped.left_at is not None and dropped.left_reason == "dropped"

    again = await live.site(site)
    await hq.until_seq(again.snapshot_seq)
    assert hq.state["presence"][str(site.pk)] == "connected"
    first, second = await sync_to_async(
        lambda: list(Attendance.objects.filter(meeting=live.meeting, site=site).order_by("pk"))
    )()
    assert first.left_at is not None and first.left_at <= second.joined_at
    assert second.left_at is None and second.left_reason == ""


async def test_closed_page_is_recorded_as_left_not_dropped(live: LiveMeeting) -> None:
    hq = await live.hq()
    page = await live.site(live.sites[0])
    await live.close(page, code=1001)  # the browser navigated away
    await hq.until_seq(page.snapshot_seq + 1)
    assert hq.state["presence"][str(live.sites[0].pk)] == "left"
    row = await sync_to_async(Attendance.objects.get)(meeting=live.meeting, site=live.sites[0])
    assert row.left_reason == "left"


# --- who may connect ------------------------------------------------------------------


async def _refused(live: LiveMeeting, path: str, cookie: str | None) -> int:
    comm = await live.connect(path, cookie)
    closed: dict[str, Any] = await comm.receive_output(timeout=TIMEOUT)
    assert closed["type"] == "websocket.close", closed
    await comm.disconnect(code=int(closed["code"]))  # what the server then tells the app
    return int(closed["code"])


async def test_join_link_session_cannot_open_another_meetings_site_socket(
    live: LiveMeeting, org: Org
) -> None:
    site = live.sites[0]

    def another_live_meeting() -> Meeting:
        other = save_meeting(
            Meeting(
                title="Họp khác", start=live.meeting.start, end=live.meeting.end, main_site=org.main
            ),
            sites={site},  # the same site is invited there too, but this link did not open it
            agenda=None,
            by=None,
        )
        Meeting.objects.filter(pk=other.pk).update(status=MeetingStatus.LIVE)
        return other

    other = await sync_to_async(another_live_meeting)()
    code = await _refused(live, f"/ws/meetings/{other.pk}/site/", live.site_cookies[site.pk])
    assert code == CLOSE_FORBIDDEN
    assert not await Attendance.objects.filter(meeting=other).aexists()


async def test_site_socket_without_a_join_link_session_is_refused(live: LiveMeeting) -> None:
    assert await _refused(live, f"/ws/meetings/{live.meeting.pk}/site/", None) == CLOSE_FORBIDDEN


@pytest.mark.parametrize("who", ["anonymous", "site_operator", "delegate", "join_link"])
async def test_hq_socket_is_only_for_hq_staff(
    live: LiveMeeting, make_user: MakeUser, who: str
) -> None:
    cookies: dict[str, Callable[[], str | None]] = {
        "anonymous": lambda: None,
        "site_operator": lambda: login_cookie(make_user(Role.SITE_OPERATOR, site=live.sites[0])),
        "delegate": lambda: login_cookie(make_user(Role.DELEGATE, site=live.sites[0])),
        "join_link": lambda: live.site_cookies[live.sites[0].pk],
    }
    path = f"/ws/meetings/{live.meeting.pk}/hq/"
    assert await _refused(live, path, await sync_to_async(cookies[who])()) == CLOSE_FORBIDDEN


async def test_hq_operator_may_run_the_meeting(live: LiveMeeting, make_user: MakeUser) -> None:
    cookie = await sync_to_async(lambda: login_cookie(make_user(Role.HQ_OPERATOR)))()
    operator = await live.hq(cookie)
    assert operator.you == {"site": live.main.pk, "hq": True, "chair": True, "voted": None}
    await operator.ok({"type": "roll_call.open"})
