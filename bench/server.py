"""A real installation to measure: `diemcau serve` (web app + embedded Janus) in a
subprocess with its own data folder and ports, seeded with one live meeting of N sites.

Same approach as tests/e2e/conftest.py. Everything listens on this machine only: the web
app on 127.0.0.1, Janus on the machine's own non-loopback address (Janus never offers
loopback candidates).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.support.serveprocess import ServeProcess

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench " + secrets.token_urlsafe(12)

# Run with the installation's settings: N branch sites, a main site, a live meeting whose
# Janus room `serve` creates at start-up (restore_live_rooms), a chair account.
SEED = """
import json, secrets
from datetime import timedelta
import django
django.setup()
from django.utils import timezone
from diemcau.accounts.models import Role, User
from diemcau.meetings import joinlinks
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.meetings.services import save_meeting
from diemcau.orgs.models import Site, SiteKind, Unit

n, delegates = %(sites)d, %(delegates)d
unit = Unit.objects.create(name="Bench")
main = Site.objects.create(code="HQ", name="HQ", unit=unit, kind=SiteKind.MAIN)
branches = [
    Site.objects.create(code=f"S{i:03d}", name=f"Site {i}", unit=unit,
                        expected_delegates=delegates // n)
    for i in range(1, n + 1)
]
start = timezone.now() - timedelta(minutes=5)
meeting = save_meeting(
    Meeting(title="Bench", start=start, end=start + timedelta(hours=4), main_site=main),
    sites=set(branches), agenda=None, by=None,
)
Meeting.objects.filter(pk=meeting.pk).update(
    status=MeetingStatus.LIVE, started_at=timezone.now(),
    janus_room=secrets.randbelow(2**50) + 1, janus_room_secret=secrets.token_urlsafe(24),
)
chair = User(username="bench-chair", role=Role.CHAIR)
chair.set_password(%(password)r)
chair.save()
print(json.dumps({
    "meeting": meeting.pk,
    "main_site": main.pk,
    "sites": [
        {"id": s.pk, "code": s.code,
         "join_path": joinlinks.join_path(meeting.invitations.get(site=s)),
         "delegate_path": joinlinks.delegate_path(meeting.invitations.get(site=s))}
        for s in branches
    ],
}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Installation:
    data_dir: Path
    sites: int
    delegates: int = 1500
    port: int = field(default_factory=free_port)
    server: ServeProcess | None = None
    meeting: int = 0
    main_site: int = 0
    site_list: list[dict[str, Any]] = field(default_factory=list)
    redis_url: str | None = None  # the Redis channel layer; None: the in-memory default

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "REDIS_URL")
        }
        env.update(
            DIEMCAU_DATA_DIR=str(self.data_dir),
            DIEMCAU_JANUS_WS_PORT=str(self._janus_port),
            DIEMCAU_RTP_PORTS="45000-49999",
            # Synthetic sites talk to the app and Janus on loopback; the HTTPS front carries
            # no media, so it is left out of what is measured (DIEMCAU_FRONT=none).
            DIEMCAU_FRONT="none",
            # Synthetic sites reach Janus directly; a TURN relay would only add a process.
            DIEMCAU_TURN="off",
            DJANGO_SETTINGS_MODULE="diemcau.settings",
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]),
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def __post_init__(self) -> None:
        self._janus_port = free_port()

    def manage(self, *args: str) -> str:
        return subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout

    def seed(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.manage("-m", "diemcau", "migrate", "--noinput", "-v", "0")
        out = self.manage(
            "-c",
            SEED % {"sites": self.sites, "delegates": self.delegates, "password": PASSWORD},
        )
        data = json.loads(out.strip().splitlines()[-1])
        self.meeting = data["meeting"]
        self.main_site = data["main_site"]
        self.site_list = data["sites"]

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.server.proc if self.server is not None else None

    def start(self) -> None:
        self.server = ServeProcess(self.port, self.env, self.data_dir)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def pin(self, cpus: list[int]) -> None:
        """Put the server's processes (serve, the app, Janus, Caddy, TURN) and every thread
        they have on these CPUs; threads they start later inherit it."""
        if self.proc is None:
            return
        procs = [psutil.Process(self.proc.pid)]
        procs += procs[0].children(recursive=True)
        for proc in procs:
            subprocess.run(  # noqa: S603 - taskset with numbers
                ["/usr/bin/taskset", "-a", "-p", "-c", ",".join(map(str, cpus)), str(proc.pid)],
                check=True,
                capture_output=True,
            )

    def janus_pid(self) -> int | None:
        if self.proc is None:
            return None
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            if child.name() == "janus":
                return child.pid
        return None

    # --- what a browser does over HTTP ------------------------------------------------

    def open_join_link(self, path: str) -> str:
        """Open a site's join link; returns the session cookie the page would hold."""
        opener, jar = _browser()
        with opener.open(f"http://{self.host}{path}", timeout=30) as response:
            if response.status != 200:
                raise RuntimeError(f"join link {path} answered {response.status}")
        return _cookie(jar, "sessionid")

    def log_in_chair(self) -> str:
        opener, jar = _browser()
        login = f"http://{self.host}/accounts/login/"
        page = opener.open(login, timeout=30).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            raise RuntimeError("the login page has no CSRF token")
        form = {"username": "bench-chair", "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
        request = urllib.request.Request(
            login, data=urllib.parse.urlencode(form).encode(), headers={"Referer": login}
        )
        opener.open(request, timeout=30).read()
        return _cookie(jar, "sessionid")


def _browser() -> tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]:
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def _cookie(jar: http.cookiejar.CookieJar, name: str) -> str:
    for cookie in jar:
        if cookie.name == name and cookie.value:
            return cookie.value
    raise RuntimeError(f"no {name} cookie was set")


class ProcSampler:
    """CPU (user + system, as % of one core) and RSS of a process, from /proc."""

    def __init__(self, pid: int | None, others: list[int] | None = None) -> None:
        self.pid = pid
        self.pids = [p for p in [pid, *(others or [])] if p is not None]  # summed
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.mark: tuple[float, float] | None = None
        self.rss_max = 0

    def _read(self) -> tuple[float, int]:
        cpu, rss = 0.0, 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            cpu += (int(fields[11]) + int(fields[12])) / self.ticks
            rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        return cpu, rss

    def start(self) -> None:
        cpu, rss = self._read()
        self.mark = (time.monotonic(), cpu)
        self.rss_max = rss

    def sample(self) -> int:
        _cpu, rss = self._read()
        self.rss_max = max(self.rss_max, rss)
        return rss

    def cpu_percent(self) -> float:
        """Average CPU since start(), in % of one core."""
        if self.mark is None:
            return 0.0
        cpu, _rss = self._read()
        t0, c0 = self.mark
        return 100.0 * (cpu - c0) / max(time.monotonic() - t0, 1e-6)


def udp_counters() -> dict[str, int]:
    """The kernel's UDP totals (InDatagrams, RcvbufErrors...) from /proc/net/snmp."""
    with open("/proc/net/snmp") as fh:
        rows = [line.split() for line in fh if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], (int(v) for v in rows[1][1:]), strict=True))


def udp_drops_by_process(pids: dict[str, int | None]) -> dict[str, int]:
    """Datagrams dropped so far (receive buffer full) on each process's UDP sockets."""
    drops_by_inode: dict[str, int] = {}
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    drops_by_inode[fields[9]] = int(fields[-1])
        except OSError:
            continue
    out: dict[str, int] = {}
    for name, pid in pids.items():
        total = 0
        if pid is not None:
            try:
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    try:
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    except OSError:
                        continue
                    if target.startswith("socket:["):
                        total += drops_by_inode.get(target[8:-1], 0)
            except OSError:
                pass
        out[name] = total
    return out
