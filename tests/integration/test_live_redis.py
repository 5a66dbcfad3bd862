"""Two app processes sharing a database and a Redis channel layer: an event made through one
reaches pages connected to the other.

Each process is `uvicorn diemcau.asgi:application`, as `diemcau serve` runs it; the chair
logs in over HTTP on process 1, the site opens its join link over HTTP on process 2.
Docs: docs/live.md (several app processes).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

REDIS_DB = 11  # a database of its own on the local Redis, apart from a dev server's 0
TIMEOUT = 15.0
PASSWORD = "correct horse battery staple"

# Run inside the shared data folder's Django: a live meeting with two branch sites, a chair.
SEED = """
import json
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from diemcau.accounts.models import Role, User
from diemcau.meetings import joinlinks
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.meetings.services import save_meeting
from diemcau.orgs.models import Site, SiteKind, Unit

hq = Unit.objects.create(name="Công đoàn Cao su Việt Nam")
main = Site.objects.create(code="HQ", name="Điểm cầu chính", unit=hq, kind=SiteKind.MAIN)
a = Site.objects.create(code="CSDN", name="Cao su Đồng Nai", unit=hq, expected_delegates=30)
b = Site.objects.create(code="CSDT", name="Cao su Dầu Tiếng", unit=hq, expected_delegates=25)
start = timezone.now() - timedelta(minutes=5)
meeting = save_meeting(
    Meeting(title="Giao ban", start=start, end=start + timedelta(hours=2), main_site=main),
    sites={a, b}, agenda=None, by=None,
)
Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.LIVE)
chair = User(username="chu-toa", role=Role.CHAIR)
chair.set_password(%(password)r)
chair.save()
print(json.dumps({
    "meeting": meeting.pk,
    "site": a.pk,
    "join_path": joinlinks.join_path(meeting.invitations.get(site=a)),
}))
"""


@dataclass
class App:
    """Two app processes over one data folder."""

    urls: tuple[str, str]
    meeting: int
    site: int
    join_path: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(process: subprocess.Popen[bytes], port: int) -> None:
    """Until the port accepts connections: uvicorn's own signal that it is serving."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app process on port {port} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"app process on port {port} did not listen within {TIMEOUT}s")


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[App]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "diemcau.settings",
        "DIEMCAU_DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        # Two bare uvicorn processes, reached directly on loopback: no HTTPS front.
        "DIEMCAU_FRONT": "none",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path]),
    }
    env.pop("DATABASE_URL", None)  # a SQLite file in the shared data folder

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], env=env, check=True, capture_output=True, timeout=120
        )
        return done.stdout.decode()

    run("-m", "django", "migrate", "--noinput", "-v", "0")
    seeded = run("-c", SEED % {"password": PASSWORD})
    data = json.loads(seeded.strip().splitlines()[-1])

    ports = (_free_port(), _free_port())
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "diemcau.asgi:application",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    env=env,
                )
            )
        for process, port in zip(processes, ports, strict=True):
            _wait_listening(process, port)
        yield App(
            urls=(f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"),
            meeting=data["meeting"],
            site=data["site"],
            join_path=data["join_path"],
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _browser() -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def _cookie(jar: http.cookiejar.CookieJar, name: str) -> str:
    for cookie in jar:
        if cookie.name == name and cookie.value:
            return cookie.value
    raise AssertionError(f"no {name} cookie was set")


def log_in(host: str, username: str) -> str:
    """Log in through the login form, as a browser does; returns the session id."""
    opener, jar = _browser()
    login = f"http://{host}/accounts/login/"
    page = opener.open(login, timeout=TIMEOUT).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "the login page has no CSRF token"
    form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
    request = urllib.request.Request(
        login, data=urllib.parse.urlencode(form).encode(), headers={"Referer": login}
    )
    opener.open(request, timeout=TIMEOUT).read()
    return _cookie(jar, "sessionid")


def open_join_link(host: str, path: str) -> str:
    opener, jar = _browser()
    with opener.open(f"http://{host}{path}", timeout=TIMEOUT) as response:
        assert response.status == 200
    return _cookie(jar, "sessionid")


async def socket_for(host: str, path: str, session: str) -> ClientConnection:
    return await connect(
        f"ws://{host}{path}",
        origin=f"http://{host}",  # type: ignore[arg-type]
        additional_headers=[("Cookie", f"sessionid={session}")],
        open_timeout=TIMEOUT,
    )


async def receive(ws: ClientConnection, **match: Any) -> dict[str, Any]:
    """The next message whose fields equal `match` (others are skipped)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if all(message.get(k) == v for k, v in match.items()):
                return message


async def test_floor_grant_made_through_one_process_reaches_a_site_on_the_other(
    two_processes: App,
) -> None:
    app = two_processes
    one, two = app.urls
    chair_session = await asyncio.to_thread(log_in, one, "chu-toa")
    site_session = await asyncio.to_thread(open_join_link, two, app.join_path)

    async with (
        await socket_for(one, f"/ws/meetings/{app.meeting}/hq/", chair_session) as chair,
        await socket_for(two, f"/ws/meetings/{app.meeting}/site/", site_session) as site,
    ):
        assert (await receive(chair, type="snapshot"))["you"]["chair"] is True
        assert (await receive(site, type="snapshot"))["you"]["site"] == app.site

        # Site → process 2 → Redis → chair on process 1.
        await site.send(json.dumps({"type": "floor.request", "topic": "Báo cáo", "ref": 1}))
        queued = await receive(chair, type="event", kind="floor.requested")
        [request] = queued["state"]["queue"]
        assert request["site"] == app.site and request["topic"] == "Báo cáo"

        # Chair → process 1 → Redis → site on process 2.
        await chair.send(json.dumps({"type": "floor.grant", "request": request["id"], "ref": 2}))
        ok = await receive(chair, ref=2)
        assert ok["type"] == "ok", ok
        granted = await receive(site, type="event", kind="floor.granted")
        assert granted["seq"] == ok["seq"]
        assert granted["state"]["floor"]["site"] == app.site
        assert granted["state"]["queue"] == []
