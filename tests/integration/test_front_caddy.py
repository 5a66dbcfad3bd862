"""The HTTPS front with a real Caddy: one origin over HTTPS (the app, and through it /janus),
/ca/ on plain HTTP, the local CA outside this machine's trust store, restarted when it dies."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import ssl
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from diemcau.config import FrontSettings, primary_ip
from diemcau.front import certs
from diemcau.front.caddyconfig import Upstreams
from diemcau.front.supervisor import CaddySupervisor

pytestmark = pytest.mark.janus


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Upstream(http.server.BaseHTTPRequestHandler):
    """Stands in for the app: answers with the path and headers it was asked with."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        record = {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
        Upstream.seen.append(record)
        body = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def app_upstream() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def caddy(tmp_path: Path, app_upstream: int) -> AsyncIterator[CaddySupervisor]:
    ip = primary_ip()
    front = FrontSettings(
        mode="internal",
        names=(ip, "localhost", "127.0.0.1"),
        https_port=free_port(),
        http_port=free_port(),
        app_port=app_upstream,
        folder=tmp_path / "caddy",
    )
    supervisor = CaddySupervisor(front, Upstreams(app_port=app_upstream))
    supervisor.backoff_initial = 0.1
    await supervisor.start()
    yield supervisor
    await supervisor.stop()


def fetch(url: str, context: ssl.SSLContext | None = None) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=5, context=context) as response:  # noqa: S310
        return dict(json.loads(response.read()))


def ca_context(caddy: CaddySupervisor) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(caddy.front.ca_root))


@pytest.mark.asyncio(loop_scope="session")
async def test_https_reaches_the_app_with_the_scheme_and_a_certificate_for_the_address(
    caddy: CaddySupervisor,
) -> None:
    front = caddy.front
    got = await asyncio.to_thread(fetch, front.origin() + "/meetings/", ca_context(caddy))
    assert got["path"] == "/meetings/"
    assert got["x-forwarded-proto"] == "https"
    # Without the local CA the certificate is refused: nothing trusts it by accident.
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        await asyncio.to_thread(fetch, front.origin() + "/", ssl.create_default_context())


@pytest.mark.asyncio(loop_scope="session")
async def test_janus_is_reached_through_the_app_on_the_same_origin(caddy: CaddySupervisor) -> None:
    """/janus goes to the app like every other path (its gate passes it on to Janus:
    tests/integration/test_janus_gate.py), never to Janus's own port."""
    got = await asyncio.to_thread(fetch, caddy.front.origin() + "/janus", ca_context(caddy))
    assert got["path"] == "/janus"
    assert got["x-forwarded-proto"] == "https"


@pytest.mark.asyncio(loop_scope="session")
async def test_plain_http_serves_ca_and_never_passes_a_join_link_to_the_app(
    caddy: CaddySupervisor,
) -> None:
    base = caddy.front.http_origin()
    got = await asyncio.to_thread(fetch, base + "/ca/diemcau-ca.crt")
    assert got["path"] == "/ca/diemcau-ca.crt"
    got = await asyncio.to_thread(fetch, base + "/join/7/CSDN/secret-token/?x=1")
    assert got["path"] == "/ca/continue/"
    assert got["x-diemcau-original-uri"] == "/join/7/CSDN/secret-token/?x=1"
    assert got["x-forwarded-proto"] == "http"
    # A client cannot pretend a plain request came over HTTPS.
    request = urllib.request.Request(  # noqa: S310 - our own address
        base + "/ca/", headers={"X-Forwarded-Proto": "https"}
    )
    spoofed = await asyncio.to_thread(_open, request)
    assert spoofed["x-forwarded-proto"] == "http"


def _open(request: urllib.request.Request) -> dict[str, str]:
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our own address
        return dict(json.loads(response.read()))


def test_the_local_ca_is_not_installed_in_this_machines_trust_store(
    caddy: CaddySupervisor,
) -> None:
    root = certs.load_root(caddy.front.ca_root)
    assert root is not None
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        assert root.pem.decode().split("-----")[2].strip() not in bundle.read_text()
    assert not any(Path("/usr/local/share/ca-certificates").glob("*Caddy*"))
    assert caddy.front.folder.stat().st_mode & 0o077 == 0


@pytest.mark.asyncio(loop_scope="session")
async def test_caddy_is_restarted_when_it_dies(caddy: CaddySupervisor) -> None:
    assert caddy.process is not None
    old = caddy.pid
    caddy.process.kill()
    await caddy.wait_restarted(after_restarts=0, timeout=30)
    assert caddy.pid != old
    # A restarted Caddy accepts connections a moment before it has loaded its certificate
    # (a TLS "internal error" alert then, seen once in CI): a browser's retry gets through.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            got = await asyncio.to_thread(
                fetch, caddy.front.origin() + "/again/", ca_context(caddy)
            )
            break
        except (ssl.SSLError, urllib.error.URLError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    assert got["path"] == "/again/"


def test_doctor_checks_the_front_and_names_the_ca(
    caddy: CaddySupervisor, settings: Any, capsys: pytest.CaptureFixture[str], db: None
) -> None:
    from django.utils import translation

    from diemcau.live.management.commands.doctor import Command

    settings.FRONT = caddy.front
    command = Command()
    assert caddy.front.origin() in command.check_front()
    with translation.override("en"):
        assert "valid for" in command.check_certificate()
    with translation.override("vi"):
        assert "hợp lệ cho" in command.check_certificate()
    root = certs.load_root(caddy.front.ca_root)
    assert root is not None and root.sha256 in command.check_local_ca()
