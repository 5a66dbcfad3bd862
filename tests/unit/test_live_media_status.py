"""`media.status`: a site page tells HQ's video wall about its camera, microphone and media
problem (static/live/devices.js, problems.js); and the page config the problem panel uses.

Through the real ASGI app, as tests/integration/test_live_control.py does: site pages get
their session by opening their join link, HQ by logging in. Docs: docs/live.md.
"""

# The test WebSocket's `timeout` arguments mirror channels' WebsocketCommunicator.
# ruff: noqa: ASYNC109

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from diemcau.accounts.models import Role
from diemcau.asgi import application
from diemcau.meetings import joinlinks
from diemcau.meetings.models import Meeting
from diemcau.orgs.models import Site
from tests.asgisocket import websocket_scope
from tests.conftest import MakeUser, Org

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10.0
QUIET = 0.3  # how long a page listens to be sure nothing more arrives

_ApplicationCommunicator: Any = ApplicationCommunicator  # asgiref.testing is untyped

OK_STATUS = {"camera": "missing", "microphone": "ok", "receive_only": False, "problem": None}


class Socket:
    """A control WebSocket through the ASGI app (channels.testing needs daphne)."""

    def __init__(self, path: str, cookie: str | None) -> None:
        self.app = _ApplicationCommunicator(application, websocket_scope(path, cookie))

    async def open(self) -> dict[str, Any]:
        await self.app.send_input({"type": "websocket.connect"})
        accepted = await self.app.receive_output(TIMEOUT)
        assert accepted["type"] == "websocket.accept"
        first = await self.receive()
        assert first["type"] == "snapshot", first
        return first

    async def send(self, message: dict[str, Any]) -> None:
        await self.app.send_input({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        out = await self.app.receive_output(timeout)
        assert out["type"] == "websocket.send", out
        message: dict[str, Any] = json.loads(out["text"])
        return message

    async def next_of(self, kind: str) -> dict[str, Any]:
        """The next message of this type (presence events and the like are skipped)."""
        while True:
            message = await self.receive()
            if message["type"] == kind:
                return message

    async def received_until_quiet(self) -> list[dict[str, Any]]:
        seen = []
        # Not receive_output with a timeout: on timeout asgiref cancels the application.
        while not await self.app.receive_nothing(QUIET):
            seen.append(await self.receive())
        return seen

    async def close(self, code: int = 1000) -> None:
        await self.app.send_input({"type": "websocket.disconnect", "code": code})
        await self.app.wait(TIMEOUT)


@dataclass
class Pages:
    meeting: Meeting
    site_a: Site
    site_b: Site
    cookies: dict[str, str]
    open: list[Socket] = field(default_factory=list)

    async def connect(self, role: str, who: str) -> Socket:
        socket = Socket(f"/ws/meetings/{self.meeting.pk}/{role}/", self.cookies[who])
        await socket.open()
        self.open.append(socket)
        return socket


def _cookie(path: str) -> str:
    browser = Client()
    response = browser.get(path)
    assert response.status_code == 200
    return browser.cookies["sessionid"].value


@pytest.fixture
def cookies(meeting: Meeting, org: Org, make_user: MakeUser) -> dict[str, str]:
    invitation = meeting.invitations.get(site=org.site_a)
    other = meeting.invitations.get(site=org.site_b)
    chair = Client()
    chair.force_login(make_user(Role.CHAIR, username="chu-tri"))
    return {
        "a": _cookie(joinlinks.join_path(invitation)),
        "b": _cookie(joinlinks.join_path(other)),
        "delegate": _cookie(joinlinks.delegate_path(invitation)),
        "chair": chair.cookies["sessionid"].value,
    }


@pytest_asyncio.fixture
async def pages(meeting: Meeting, org: Org, cookies: dict[str, str]) -> AsyncIterator[Pages]:
    p = Pages(meeting, org.site_a, org.site_b, cookies)
    yield p
    for socket in p.open:
        await socket.close()


async def test_a_sites_media_status_reaches_hq(pages: Pages) -> None:
    hq = await pages.connect("hq", "chair")
    site = await pages.connect("site", "a")
    status = {"camera": "missing", "microphone": "missing", "receive_only": True, "problem": "ice"}
    await site.send({"type": "media.status", "ref": 1, **status})
    assert await hq.next_of("media_status") == {
        "type": "media_status",
        "site": pages.site_a.pk,
        **status,
    }
    # Ephemeral, like quality: no answer to the sender, nothing recorded, no seq.
    assert [m for m in await site.received_until_quiet() if m.get("ref") == 1] == []


async def test_another_site_does_not_receive_it(pages: Pages) -> None:
    hq = await pages.connect("hq", "chair")
    other = await pages.connect("site", "b")
    site = await pages.connect("site", "a")
    await site.send({"type": "media.status", **OK_STATUS})
    await hq.next_of("media_status")
    assert all(m["type"] != "media_status" for m in await other.received_until_quiet())
    assert all(m["type"] != "media_status" for m in await site.received_until_quiet())


@pytest.mark.parametrize(
    ("field_", "value"),
    [
        ("camera", "bogus"),
        ("camera", None),
        ("camera", True),
        ("microphone", "OK"),
        ("microphone", 1),
        ("receive_only", "yes"),
        ("receive_only", 0),
        ("receive_only", None),
        ("problem", "udp"),
        ("problem", False),
        ("problem", ""),
    ],
)
async def test_a_bad_value_is_refused_naming_the_field_and_value(
    pages: Pages, field_: str, value: Any
) -> None:
    hq = await pages.connect("hq", "chair")
    site = await pages.connect("site", "a")
    await site.send({"type": "media.status", "ref": "r", **OK_STATUS, field_: value})
    reply = await site.next_of("error")
    assert reply["ref"] == "r" and reply["request"] == "media.status"
    assert repr(field_) in reply["message"]
    assert repr(value) in reply["message"]
    assert all(m["type"] != "media_status" for m in await hq.received_until_quiet())


async def test_a_missing_field_is_refused(pages: Pages) -> None:
    site = await pages.connect("site", "a")
    await site.send({"type": "media.status", "camera": "ok", "microphone": "ok", "problem": None})
    reply = await site.next_of("error")
    assert "'receive_only'" in reply["message"] and "None" in reply["message"]


@pytest.mark.parametrize(("role", "who"), [("delegate", "delegate"), ("hq", "chair")])
async def test_only_a_site_page_may_report(pages: Pages, role: str, who: str) -> None:
    hq = await pages.connect("hq", "chair")
    sender = hq if role == "hq" else await pages.connect(role, who)
    await sender.send({"type": "media.status", "ref": 7, **OK_STATUS})
    reply = await sender.next_of("error")
    assert reply["ref"] == 7 and reply["request"] == "media.status"
    assert reply["code"] == "not_allowed" and "điểm cầu" in reply["message"]  # "a site's page"
    assert all(m["type"] != "media_status" for m in await hq.received_until_quiet())


# --- the page config the problem panel reads -------------------------------------------


def _config(html: str) -> dict[str, Any]:
    start = html.index('<script id="live-config" type="application/json">') + len(
        '<script id="live-config" type="application/json">'
    )
    config: dict[str, Any] = json.loads(html[start : html.index("</script>", start)])
    return config


@pytest.fixture
def front(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from dataclasses import replace

    settings.FRONT = replace(settings.FRONT, names=("10.20.0.5", "hop.example.vn"), https_port=8443)
    settings.ALLOWED_HOSTS = ["10.20.0.5", "hop.example.vn", "testserver"]
    monkeypatch.setenv("DIEMCAU_MEDIA_IP", "10.20.0.5")
    monkeypatch.setenv("DIEMCAU_RTP_PORTS", "40000-40999")
    return settings.FRONT


def test_the_room_page_says_where_its_secure_address_is(
    meeting: Meeting, org: Org, front: Any
) -> None:
    path = joinlinks.join_path(meeting.invitations.get(site=org.site_a))
    response = Client().get(path, HTTP_HOST="hop.example.vn:8080")
    config = _config(response.content.decode())
    assert config["https_url"] == f"https://hop.example.vn:8443{path}"
    assert config["ca_url"] == front.ca_url
    assert config["https_port"] == 8443
    assert config["media_ip"] == "10.20.0.5"
    assert config["rtp_ports"] == "40000-40999"


def test_a_host_that_is_not_ours_gets_the_servers_own_address(
    meeting: Meeting, org: Org, front: Any
) -> None:
    path = joinlinks.join_path(meeting.invitations.get(site=org.site_a))
    config = _config(Client().get(path).content.decode())  # Host: testserver
    assert config["https_url"] == f"https://10.20.0.5:8443{path}"


def test_the_hq_console_gets_the_same_values(
    meeting: Meeting, make_user: MakeUser, front: Any
) -> None:
    client = Client()
    client.force_login(make_user(Role.CHAIR))
    config = _config(
        client.get(f"/live/{meeting.pk}/console/", HTTP_HOST="10.20.0.5").content.decode()
    )
    assert config["https_url"] == f"https://10.20.0.5:8443/live/{meeting.pk}/console/"
    assert {"ca_url", "https_port", "media_ip", "rtp_ports"} <= config.keys()
