"""A real Janus for the integration tests (aiortc peers are in tests/support/peers.py).

Janus is started once per test session by ``JanusSupervisor`` on a temporary config folder
and free ports, bound to the machine's non-loopback address (Janus does not offer
127.0.0.1 as an ICE candidate). aiortc peers get no STUN server, so every packet stays on
this machine.
"""

from __future__ import annotations

import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from diemcau.config import primary_ip
from diemcau.media.client import JanusClient
from diemcau.media.janusconfig import JanusConfig
from diemcau.media.supervisor import JanusSupervisor
from diemcau.media.tokens import sign_token
from diemcau.media.videoroom import VideoRoomAdmin

JANUS_BINARY = "/usr/bin/janus"


def free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


def make_config(folder: Path, *, rtp_base: int) -> JanusConfig:
    ip = primary_ip()
    if ip.startswith("127."):
        pytest.fail("no non-loopback IPv4 address: Janus cannot offer ICE candidates")
    return JanusConfig(
        folder=folder,
        ip=ip,
        ws_port=free_port(ip),
        admin_secret=secrets.token_urlsafe(32),
        token_auth_secret=secrets.token_urlsafe(32),
        admin_key=secrets.token_urlsafe(32),
        rtp_port_min=rtp_base,
        rtp_port_max=rtp_base + 999,
    )


@pytest.fixture(scope="session")
def janus_available() -> None:
    if shutil.which(JANUS_BINARY) is None:
        pytest.fail(f"{JANUS_BINARY} is not installed: run `make deps`")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def janus(
    janus_available: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[JanusSupervisor]:
    config = make_config(tmp_path_factory.mktemp("janus"), rtp_base=41000)
    supervisor = JanusSupervisor(config, janus_binary=JANUS_BINARY)
    await supervisor.start()
    yield supervisor
    await supervisor.stop()


def core_token(config: JanusConfig, **kwargs: Any) -> str:
    return sign_token(config.token_auth_secret, **kwargs)


@pytest.fixture
def make_janus_config(
    janus_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[int], JanusConfig]:
    """A fresh config (own folder, ports, secrets) for tests that need their own Janus."""

    def make(rtp_base: int) -> JanusConfig:
        return make_config(tmp_path_factory.mktemp("janus"), rtp_base=rtp_base)

    return make


@pytest_asyncio.fixture(loop_scope="session")
async def client(janus: JanusSupervisor) -> AsyncIterator[JanusClient]:
    config = janus.config
    async with JanusClient(config.ws_url, token=lambda: core_token(config)) as c:
        yield c


@pytest_asyncio.fixture(loop_scope="session")
async def admin(janus: JanusSupervisor, client: JanusClient) -> AsyncIterator[VideoRoomAdmin]:
    a = VideoRoomAdmin(client, janus.config.admin_key)
    yield a
    await a.close()
