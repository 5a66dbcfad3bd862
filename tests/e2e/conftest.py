"""A real installation for browser tests: `diemcau serve` (embedded Janus, the HTTPS front,
the web app) in a subprocess with its own data folder, and Debian's Chromium driven by
Playwright. Chromium trusts the installation's local CA through an NSS database in its own
home, as a room PC does once it installed the CA from /ca/ — certificate errors are never
ignored."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.netbed import trust_ca
from tests.support.serveprocess import ServeProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # Screen share without a picker: the whole (virtual) screen.
    "--auto-select-desktop-capture-source=Entire screen",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Installation:
    url: str
    data_dir: Path
    passwords: dict[str, str]
    env: dict[str, str]

    port: int = 0
    server: ServeProcess | None = None

    def start(self) -> None:
        """Start `diemcau serve` (embedded Janus + web app) and wait until it answers."""
        self.server = self.server or ServeProcess(self.port, self.env, self.data_dir)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(timeout=15)

    def crash(self) -> None:
        if self.server is not None:
            self.server.crash()

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "diemcau", *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    """Log in through the login form, as a person does, and land on the meetings list."""
    page.goto(base_url + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/meetings/$"))


@pytest.fixture(scope="session")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    data_dir = tmp_path_factory.mktemp("e2e-data")
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        DIEMCAU_DATA_DIR=str(data_dir),
        DIEMCAU_JANUS_WS_PORT=str(_free_port()),
        DIEMCAU_HTTPS_PORT=str(_free_port()),
        DIEMCAU_HTTP_PORT=str(_free_port()),
        DIEMCAU_APP_PORT=str(port),
        DIEMCAU_RTP_PORTS="44000-44999",
        DIEMCAU_TURN_PORT=str(_free_port()),
        DIEMCAU_TURN_TLS_PORT=str(_free_port()),
        PYTHONUNBUFFERED="1",
    )
    inst = Installation(url="", data_dir=data_dir, passwords={}, env=env)
    inst.manage("migrate", "--noinput", "-v", "0")
    demo = inst.manage("demo")
    for name, password in re.findall(r"^\s+(\S+)\s+(\S+)\s+.+$", demo, flags=re.M):
        inst.passwords[name] = password
    inst.port = port
    inst.start()
    assert inst.server is not None
    inst.url = inst.server.url
    yield inst
    inst.stop()


@pytest.fixture(scope="session")
def browser_home(installation: Installation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home folder whose NSS database trusts the installation's local CA."""
    assert installation.server is not None
    home = tmp_path_factory.mktemp("chromium-home")
    trust_ca(home, installation.server.ca_file)
    return home


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """One Playwright for the whole run: its sync API allows only one at a time."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(browser_home: Path, playwright: Any) -> Iterator[object]:
    b = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        env={**os.environ, "HOME": str(browser_home)},
    )
    yield b
    b.close()
