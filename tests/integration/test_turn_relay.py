"""TURN relays a site's media to Janus and nowhere else, with a real coturn in the test bed.

  server 10.77.0.1   coturn (our generated config; relay-ip 10.77.0.1 stands for Janus's
                     media address), a UDP echo on 10.77.0.1 (stands for Janus's RTP),
                     TCP listeners on 127.0.0.1:8000/8188 (the app and Janus's WebSocket)
                     and on 10.77.0.1:8000
  A      .11         probes over UDP, TCP and TLS with diemcau.turn.probe
  B      .12         another host on the bridge, with a UDP echo of its own

Each refusal is checked next to a grant that differs only in what is refused: the same
allocation gets a permission to Janus's address and relays through it, and the refused
credentials are a good one changed in one way (its expiry, its secret, its username).
Checked to fail when the config is loosened: without the deny lines (and with
allow-loopback-peers, TCP relays on) every peer and the TCP allocation are granted; without
allowed-peer-ip nothing reaches Janus; without the IPv6 deny lines the IPv6 relay grants
::ffff:127.0.0.1 (coturn 4.6 does not map it onto 127.0.0.0/8).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from diemcau.config import FrontSettings
from diemcau.turn import certificate, credentials
from diemcau.turn.turnconfig import TurnConfig
from tests.integration.turnbed import make_ca, start_coturn
from tests.netbed import TOOLS, Host, NetBed, netbed_available

pytestmark = pytest.mark.netbed

SECRET = "turn-test-secret-" + "x" * 32
REALM = "10.77.0.1"
TURN_PORT = 3478
TLS_PORT = 5349
APP_PORT = 8000
JANUS_WS_PORT = 8188

# What a site must never reach through the relay (issue 9). Permissions are per address, so
# the app's and Janus's WebSocket ports are refused with their address.
FORBIDDEN_V4 = [
    ("127.0.0.1", APP_PORT),
    ("127.0.0.1", JANUS_WS_PORT),
    ("10.0.0.1", 9),
    ("169.254.169.254", 80),  # a cloud's metadata service
    ("10.77.0.12", 9),  # site B, another host on the bridge
    ("0.0.0.0", 9),  # noqa: S104 - a peer address, nothing binds to it
    ("100.64.0.1", 9),
    ("192.168.1.1", 9),
    ("224.0.0.1", 9),
    ("8.8.8.8", 9),  # the internet: the relay carries media to Janus, nothing else
]
# The relay address is IPv4, so coturn refuses IPv6 peers before its deny list is read.
FORBIDDEN_V6 = [
    ("::1", APP_PORT),
    ("::ffff:127.0.0.1", APP_PORT),  # CVE-2026-27624
    ("::ffff:10.0.0.1", 9),
    ("::ffff:10.77.0.1", 9),  # Janus's address, in the IPv4-mapped form
    ("fe80::1", 9),
    ("fd77::12", 9),
    ("::", 9),
    ("2a00:1450::1", 9),
]

# A second coturn whose relay address is IPv6 (RFC 6156), where IPv6 peers do reach the
# deny list: the CVE's case, a relay that could send to ::ffff:127.0.0.1.
RELAY_V6 = "fd77::1"
TURN_V6_PORT = 3479

# Runs inside site A: one JSON plan on stdin, one JSON object out on stdout.
PROBE = """
import asyncio, dataclasses, json, ssl, sys
from diemcau.turn.probe import TurnClient, probe

plan = json.load(sys.stdin)
context = ssl.create_default_context(cafile=plan["cafile"]) if plan["transport"] == "tls" else None
where = dict(ssl_context=context, timeout=3.0)
server = (plan["host"], plan["port"], plan["transport"])

async def main():
    out = {}
    report = await probe(
        *server, *plan["credential"], peers=[tuple(p) for p in plan["peers"]],
        echo=tuple(plan["echo"]), tcp_connect=tuple(plan["tcp_connect"]), **where)
    out["report"] = dataclasses.asdict(report)
    async with TurnClient(*server, **where) as client:
        await client.allocate(*plan["credential"])
        site = tuple(plan["site_echo"])
        out["site_permission"] = dataclasses.asdict(await client.permit(site))
        echoed = await client.relay(site, b"to B", timeout=1.0)
        out["site_echo"] = echoed and echoed.decode()
    out["refused"] = {}
    for name, credential in plan["bad"].items():
        async with TurnClient(*server, **where) as client:
            out["refused"][name] = dataclasses.asdict(await client.allocate(*credential))
    if "v6" in plan:
        v6 = plan["v6"]
        async with TurnClient(plan["host"], v6["port"], "udp", **where) as client:
            out["v6"] = {
                "allocation": dataclasses.asdict(
                    await client.allocate(*plan["credential"], family="ipv6")),
                "permissions": [dataclasses.asdict(o) for o in
                                await client.permit_all(tuple(p) for p in v6["peers"])],
            }
    print(json.dumps(out))

asyncio.run(main())
"""


@dataclass
class Relay:
    bed: NetBed
    config: TurnConfig
    ca_file: Path
    echo_port: int
    site_echo_port: int


def serve(host: Host, argv: list[str]) -> int:
    _proc, line = host.popen_ready([sys.executable, str(TOOLS), *argv])
    return int(line.split()[1])


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    reason = netbed_available()
    if reason is not None:
        pytest.fail(f"the network test bed cannot be built here: {reason}")
    folder = tmp_path_factory.mktemp("turn")
    ca_file = make_ca(folder / "caddy")
    with NetBed(["A", "B"]) as bed:
        server = bed.server
        front = FrontSettings(
            mode="internal",
            names=(server.ip,),
            https_port=443,
            http_port=80,
            app_port=APP_PORT,
            folder=folder / "caddy",
        )
        tls = certificate.issue_from_local_ca(front, folder / "turn")
        config = TurnConfig(
            folder=folder / "turn",
            secret=SECRET,
            realm=REALM,
            relay_ip=server.ip,
            port=TURN_PORT,
            tls_port=TLS_PORT,
            cert_file=tls.cert,
            key_file=tls.key,
            relay_min_port=50000,
            relay_max_port=50999,
        )
        start_coturn(server, config)
        # The IPv6 relay address sits on the server's loopback device: only coturn's relay
        # socket uses it, and no site needs to reach it.
        server.run("sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/lo/disable_ipv6")
        server.run("ip", "addr", "add", f"{RELAY_V6}/128", "dev", "lo", "nodad")
        v6 = TurnConfig(
            folder=folder / "turn6",
            secret=SECRET,
            realm=REALM,
            relay_ip=RELAY_V6,
            port=TURN_V6_PORT,
            tls_port=0,
            relay_min_port=51000,
            relay_max_port=51999,
        )
        start_coturn(server, v6)
        # Stand-ins: the app and Janus's WebSocket on the server's loopback, something on
        # TCP 8000 of Janus's address, Janus's RTP (an echo) and a UDP service on site B.
        for port in (APP_PORT, JANUS_WS_PORT):
            serve(server, ["tcp-serve", "--bind", "127.0.0.1", "--port", str(port)])
        serve(server, ["tcp-serve", "--bind", server.ip, "--port", str(APP_PORT)])
        echo_port = serve(server, ["udp-echo", "--bind", server.ip])
        site_echo_port = serve(bed.sites["B"], ["udp-echo", "--bind", bed.sites["B"].ip])
        yield Relay(bed, config, ca_file, echo_port, site_echo_port)


def run_probe(relay: Relay, transport: str) -> dict[str, Any]:
    server = relay.bed.server
    now = int(time.time())
    good = credentials.issue(SECRET, "site-a", now + 3600)
    expired = credentials.issue(SECRET, "site-a", now - 60)
    forged = credentials.issue("another-secret-" + "y" * 32, "site-a", now + 3600)
    plan: dict[str, Any] = {
        "host": server.ip,
        "port": TLS_PORT if transport == "tls" else TURN_PORT,
        "transport": transport,
        "cafile": str(relay.ca_file),
        "credential": [good.username, good.password],
        "peers": FORBIDDEN_V4 + FORBIDDEN_V6,
        "echo": [server.ip, relay.echo_port],
        "site_echo": [relay.bed.sites["B"].ip, relay.site_echo_port],
        "tcp_connect": [server.ip, APP_PORT],
        "bad": {
            # Right secret, right name, HMAC correct: only the expiry is in the past.
            "expired": [expired.username, expired.password],
            "forged": [forged.username, forged.password],
            # site-a's password presented under another participant's name.
            "renamed": [f"{good.expires}:site-b", good.password],
            # No expiry at all, HMAC correct.
            "no expiry": ["site-a", credentials.password_for(SECRET, "site-a")],
        },
    }
    if transport == "udp":
        plan["v6"] = {"port": TURN_V6_PORT, "peers": [(RELAY_V6, 9), *FORBIDDEN_V6]}
    started = time.monotonic()
    done = subprocess.run(
        relay.bed.sites["A"].wrap([sys.executable, "-c", PROBE]),
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    result["seconds"] = time.monotonic() - started
    return result


@pytest.fixture(scope="module")
def probed(relay: Relay) -> dict[str, dict[str, Any]]:
    """Each transport probed once (one process in site A); the tests read the findings."""
    return {transport: run_probe(relay, transport) for transport in ("udp", "tcp", "tls")}


def refusals(outcomes: list[dict[str, Any]]) -> dict[tuple[str, int], int | None]:
    return {(o["peer"][0], o["peer"][1]): o["refusal"] and o["refusal"]["code"] for o in outcomes}


TRANSPORTS = pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])


@TRANSPORTS
def test_janus_address_is_granted_and_a_datagram_relays_to_it_and_back(
    relay: Relay, probed: dict[str, dict[str, Any]], transport: str
) -> None:
    report = probed[transport]["report"]
    allocation = report["allocation"]
    assert allocation["refusal"] is None
    host, port = allocation["relayed"]
    assert host == relay.bed.server.ip
    assert 50000 <= port <= 50999
    assert allocation["mapped"][0] == relay.bed.sites["A"].ip
    # Permitted, then a Send indication and a bound channel each came back from the echo.
    assert report["echoed"] is True
    assert report["freed"] is True


@TRANSPORTS
def test_special_addresses_and_the_servers_own_ports_are_refused(
    probed: dict[str, dict[str, Any]], transport: str
) -> None:
    got = refusals(probed[transport]["report"]["permissions"])
    assert got == {
        **{peer: 403 for peer in FORBIDDEN_V4},  # Forbidden IP
        **{peer: 443 for peer in FORBIDDEN_V6},  # Peer Address Family Mismatch
    }


@TRANSPORTS
def test_another_host_on_the_bridge_is_refused_and_gets_nothing(
    probed: dict[str, dict[str, Any]], transport: str
) -> None:
    result = probed[transport]
    assert result["site_permission"]["refusal"]["code"] == 403
    assert result["site_echo"] is None


@TRANSPORTS
def test_tcp_relays_are_refused(probed: dict[str, dict[str, Any]], transport: str) -> None:
    # RFC 6062: coturn runs with no-tcp-relay, so even a TCP allocation, the step before a
    # Connect to 10.77.0.1:8000 (something listens there), is refused.
    connect = probed[transport]["report"]["tcp_connect"]
    assert connect["peer"] == [REALM, APP_PORT]
    assert connect["refusal"]["code"] == 442


@TRANSPORTS
def test_expired_forged_and_renamed_credentials_are_refused(
    probed: dict[str, dict[str, Any]], transport: str
) -> None:
    refused = probed[transport]["refused"]
    assert {name: a["refusal"]["code"] for name, a in refused.items()} == {
        "expired": 401,
        "forged": 401,
        "renamed": 401,
        "no expiry": 401,
    }
    assert all(a["relayed"] is None for a in refused.values())


def test_ipv6_relay_refuses_ipv4_mapped_and_special_ipv6_peers(
    probed: dict[str, dict[str, Any]],
) -> None:
    v6 = probed["udp"]["v6"]
    assert v6["allocation"]["refusal"] is None
    assert v6["allocation"]["relayed"][0] == RELAY_V6
    assert refusals(v6["permissions"]) == {
        (RELAY_V6, 9): None,  # Janus's own address, allowed inside fc00::/7
        **{peer: 403 for peer in FORBIDDEN_V6},
    }


def test_probes_are_quick(probed: dict[str, dict[str, Any]]) -> None:
    # Refusals are answered at once; a slow probe means something waits for a timeout.
    assert {t: r["seconds"] < 10 for t, r in probed.items()} == dict.fromkeys(probed, True)
