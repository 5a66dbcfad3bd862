"""`diemcau serve` leaves nothing behind: Ctrl-C stops Janus and Caddy in order (they are
not restarted mid-shutdown), and a killed `serve` takes them with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.janus


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DIEMCAU_DATA_DIR=str(tmp_path),
        DIEMCAU_JANUS_WS_PORT=str(free_port()),
        DIEMCAU_HTTPS_PORT=str(free_port()),
        DIEMCAU_HTTP_PORT=str(free_port()),
        DIEMCAU_RTP_PORTS="46000-46099",
        DIEMCAU_TURN_PORT=str(free_port()),
        DIEMCAU_TURN_TLS_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    subprocess.run(
        [sys.executable, "-m", "diemcau", "migrate", "-v", "0"], env=env, check=True, timeout=120
    )
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        # Its own process group, like a terminal's foreground job.
        proc = subprocess.Popen(
            [sys.executable, "-m", "diemcau", "serve", "--port", str(free_port())],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while "https://" not in log.read_text():  # the banner, in whichever language
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)
    yield proc, log
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    found = psutil.Process(proc.pid).children()
    assert {c.name() for c in found} >= {"janus", "caddy", "turnserver"}, found
    return found


def gone(processes: list[psutil.Process], timeout: float = 20) -> bool:
    _alive_done, alive = psutil.wait_procs(processes, timeout=timeout)
    return not alive


def test_ctrl_c_stops_janus_caddy_and_coturn_without_restarting_them(
    serve: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, log = serve
    kids = children(proc)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does to the foreground group
    proc.wait(timeout=30)
    assert gone(kids)
    assert "restarting" not in log.read_text()


def test_a_killed_serve_takes_janus_and_caddy_with_it(
    serve: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, _log = serve
    kids = children(proc)
    proc.kill()  # SIGKILL: no shutdown code runs
    proc.wait(timeout=10)
    assert gone(kids, timeout=10)


def test_sigterm_stops_coturn_caddy_and_janus_in_order_before_serve_exits(
    serve: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """What systemd or `kill` sends: serve itself stops its children, last started first
    (uvicorn re-raising the signal used to kill serve first, leaving them to PDEATHSIG)."""
    proc, log = serve
    kids = children(proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert gone(kids)
    text = log.read_text()
    stopped = [
        name for line in text.splitlines() for name in ("coturn", "Caddy", "Janus")
        if f"{name} (pid" in line and line.endswith("stopped")
    ]  # fmt: skip
    assert stopped == ["coturn", "Caddy", "Janus"], text
    assert "restarting" not in text
