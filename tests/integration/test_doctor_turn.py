"""`diemcau doctor` against a real coturn in the test bed's server namespace: TURN answers
an allocation over UDP and TLS with a fresh credential and relays to Janus only, its ports
are held by turnserver, its certificate is valid for the front's names; and when coturn is
not running, or another coturn with another secret holds the port, doctor says so and what
to change.

Strings are matched on what doctor does not translate (addresses, program names, codes),
so merging the Vietnamese translations does not break this test.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from diemcau import config
from diemcau.config import FrontSettings
from diemcau.turn.supervisor import embedded_config
from diemcau.turn.turnconfig import TurnConfig
from tests.integration.turnbed import make_ca, start_coturn
from tests.netbed import Host, NetBed, netbed_available

pytestmark = pytest.mark.netbed

DIEMCAU = str(Path(sys.executable).with_name("diemcau"))


@dataclass
class Server:
    host: Host
    data: Path
    env: dict[str, str]
    turn: TurnConfig


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = netbed_available()
    if reason is not None:
        pytest.fail(f"the network test bed cannot be built here: {reason}")
    data = tmp_path_factory.mktemp("data")
    secrets = config.load_secrets(data)
    make_ca(data / "caddy")
    with NetBed([]) as bed:
        host = bed.server
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DIEMCAU_DATA_DIR": str(data),
            "DIEMCAU_MEDIA_IP": host.ip,
        }
        # The front doctor computes in that namespace: names in the same order.
        front = FrontSettings(
            mode="internal",
            names=(host.ip, socket.gethostname().lower(), "localhost", "127.0.0.1"),
            https_port=443,
            http_port=80,
            app_port=8000,
            folder=data / "caddy",
        )
        turn = config.turn_settings(secrets, env)
        # What `diemcau serve` starts: the same function, folder and media address.
        yield Server(host, data, env, embedded_config(turn, front, data / "turn", host.ip))


def doctor(server: Server) -> list[str]:
    done = server.host.run(DIEMCAU, "doctor", check=False, timeout=60, env=server.env)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.splitlines()


def line_with(lines: list[str], *parts: str) -> str:
    found = [line for line in lines if all(part in line for part in parts)]
    assert len(found) == 1, f"one line with {parts} expected in:\n" + "\n".join(lines)
    return found[0]


def test_doctor_reports_turn_answering_over_udp_and_tls_and_relaying_to_janus_only(
    server: Server,
) -> None:
    proc = start_coturn(server.host, server.turn)
    try:
        lines = doctor(server)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ip = server.host.ip
    for transport, port in (("udp", 3478), ("tls", 5349)):
        line = line_with(lines, f"{transport} {ip}:{port}")
        assert line.startswith("✓"), line
        assert f"{ip}:" in line and "127.0.0.1" in line
    for proto, port in (("UDP", 3478), ("TCP", 3478), ("TCP", 5349)):
        line = line_with(lines, f"{proto} {port}", "turnserver (pid")
        assert line.startswith("✓"), line
    # coturn's own leaf from the local CA, checked for every name the front serves.
    certificate = line_with(lines, "5349", socket.gethostname().lower())
    assert certificate.startswith("✓"), certificate


def test_doctor_says_to_start_serve_when_coturn_is_not_running(server: Server) -> None:
    lines = doctor(server)
    ip = server.host.ip
    udp = line_with(lines, f"udp {ip}:3478")
    assert udp.startswith("✗") and "connection refused" in udp and "diemcau serve" in udp, udp
    tls = line_with(lines, f"tls {ip}:5349")
    assert tls.startswith("✗") and "diemcau serve" in tls, tls
    for proto, port in (("UDP", 3478), ("TCP", 3478), ("TCP", 5349)):
        line = line_with(lines, f"{proto} {port}", "DIEMCAU_TURN")
        assert line.startswith("✗"), line


def test_doctor_tells_another_coturn_by_its_refusing_our_credential(server: Server) -> None:
    other = dataclasses.replace(server.turn, secret="another-coturn-secret-" + "z" * 32)
    proc = start_coturn(server.host, other)
    try:
        lines = doctor(server)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    udp = line_with(lines, f"udp {server.host.ip}:3478")
    assert udp.startswith("✗") and "401" in udp and "systemctl disable --now coturn" in udp, udp
