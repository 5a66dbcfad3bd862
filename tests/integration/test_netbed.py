"""The network test bed (tests/netbed) does what the multi-site tests rely on: hosts that
are separate machines on one segment, a server loopback out of the sites' reach, link
conditions that really bite and go away again, and no trace left after a bed closes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.netbed import (
    TOOLS,
    Host,
    NetBed,
    chromium_wrapper,
    list_netns,
    netbed_available,
    remove_leftovers,
    trust_ca,
    wait_for_line,
)

PAYLOAD = 150_000  # bytes: 2.4 s at 500 kbit/s
RATE_KBIT = 500


@pytest.fixture(scope="module")
def module_bed() -> Iterator[NetBed]:
    reason = netbed_available()
    if reason is not None:
        pytest.fail(f"the network test bed cannot be built here: {reason}")
    with NetBed(["A", "B"]) as bed:
        yield bed


@pytest.fixture
def bed(module_bed: NetBed) -> Iterator[NetBed]:
    try:
        yield module_bed
    finally:
        for host in module_bed.hosts:
            host.restore()
            host.kill_processes()


def tool(host: Host, *args: str, timeout: float = 30) -> dict[str, Any]:
    done = host.run(sys.executable, str(TOOLS), *args, check=False, timeout=timeout)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def tcp_server(host: Host, bind: str, *, send: int | None = None) -> int:
    argv = [sys.executable, str(TOOLS), "tcp-serve", "--bind", bind]
    _, line = host.popen_ready([*argv, *(["--send", str(send)] if send else [])])
    return int(line.split()[1])


def udp_echo(host: Host) -> tuple[subprocess.Popen[bytes], int]:
    proc, line = host.popen_ready([sys.executable, str(TOOLS), "udp-echo", "--bind", host.ip])
    return proc, int(line.split()[1])


def udp_replies(client: Host, to: str, port: int, count: int = 3, wait: float = 0.5) -> int:
    args = ["--to", to, "--port", str(port), "--count", str(count), "--wait", str(wait)]
    return int(tool(client, "udp-send", *args)["replies"])


def echo_received(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    return int(wait_for_line(proc, "RECEIVED").split()[1])


def test_each_host_has_one_address_on_one_segment_and_the_machine_none(bed: NetBed) -> None:
    expected = {"server": "10.77.0.1", "A": "10.77.0.11", "B": "10.77.0.12"}
    assert {host.name: host.ip for host in bed.hosts} == expected
    for host in bed.hosts:
        links = host.run("ip", "-o", "link", "show").stdout
        assert "lo: <LOOPBACK,UP" in links
        # Janus binds ICE to one interface: no second way out of the server, nor any site.
        names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
        assert sorted(names) == ["eth0", "lo"]
        addresses = host.run("ip", "-o", "-4", "addr", "show", "dev", "eth0").stdout
        assert f"inet {host.ip}/24 " in addresses
        assert host.run("ip", "route", "show", "default").stdout.strip() == ""
    ports = bed.server.run("ip", "-n", bed.switch_netns, "-o", "link", "show", "master", "br0")
    assert len(ports.stdout.splitlines()) == 3
    machine_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert bed.prefix not in machine_links
    machine_addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True)
    assert "10.77.0." not in machine_addresses.stdout


def test_site_reaches_server_but_not_its_loopback(bed: NetBed) -> None:
    server, site = bed.server, bed.sites["A"]
    public = tcp_server(server, server.ip, send=PAYLOAD)
    private = tcp_server(server, "127.0.0.1")

    assert site.can_connect_tcp(server.ip, public)
    assert tool(site, "tcp-client", "--to", server.ip, "--port", str(public)) == {
        "received": PAYLOAD,
        "seconds": pytest.approx(0, abs=1),
    }
    assert server.can_connect_tcp("127.0.0.1", private)
    assert not site.can_connect_tcp(server.ip, private)
    assert not site.can_connect_tcp("127.0.0.1", private)


def test_sites_reach_each_other(bed: NetBed) -> None:
    a, b = bed.sites["A"], bed.sites["B"]
    port = tcp_server(b, b.ip)
    assert a.can_connect_tcp(b.ip, port)
    reply = tool(a, "tcp-client", "--to", b.ip, "--port", str(port), "--send", "1000")
    assert reply["received"] == len(b"1000\n")


def test_block_udp_keeps_tcp_and_restore_brings_udp_back(bed: NetBed) -> None:
    server, a, b = bed.server, bed.sites["A"], bed.sites["B"]
    echo, port = udp_echo(server)
    tcp = tcp_server(server, server.ip)
    assert udp_replies(a, server.ip, port) == 3

    a.block_udp()
    assert udp_replies(a, server.ip, port) == 0
    assert a.can_connect_tcp(server.ip, tcp)
    assert udp_replies(b, server.ip, port) == 3, "only A's link is filtered"
    a.restore()
    assert udp_replies(a, server.ip, port) == 3

    a.block_udp(to=server.ip)
    assert udp_replies(a, server.ip, port) == 0
    site_echo, site_port = udp_echo(b)
    assert udp_replies(a, b.ip, site_port) == 3, "UDP to other addresses still flows"
    a.restore()
    assert udp_replies(a, server.ip, port) == 3
    # A's blocked datagrams died on the wire: the server never saw them.
    assert echo_received(echo) == 3 + 3 + 3 + 3
    assert echo_received(site_echo) == 3


def test_cut_drops_everything_until_restored(bed: NetBed) -> None:
    server, a, b = bed.server, bed.sites["A"], bed.sites["B"]
    port = tcp_server(server, server.ip)
    a.cut()
    assert not a.can_connect_tcp(server.ip, port, timeout=1)
    assert b.can_connect_tcp(server.ip, port)
    a.restore()
    assert a.can_connect_tcp(server.ip, port)


def test_limit_rate_caps_throughput_of_that_host_only(bed: NetBed) -> None:
    server, a, b = bed.server, bed.sites["A"], bed.sites["B"]
    at_rate = PAYLOAD * 8 / (RATE_KBIT * 1000)
    download = tcp_server(server, server.ip, send=PAYLOAD)
    sink = tcp_server(server, server.ip)

    a.limit_rate(RATE_KBIT, direction="ingress")
    fetched = tool(a, "tcp-client", "--to", server.ip, "--port", str(download))
    assert fetched["received"] == PAYLOAD
    assert 0.7 * at_rate <= fetched["seconds"] <= 2.5 * at_rate
    unshaped = tool(b, "tcp-client", "--to", server.ip, "--port", str(download))
    assert unshaped["seconds"] < 0.3 * at_rate

    a.restore()
    a.limit_rate(RATE_KBIT, direction="egress")
    sent = tool(a, "tcp-client", "--to", server.ip, "--port", str(sink), "--send", str(PAYLOAD))
    assert sent["received"] == len(f"{PAYLOAD}\n")
    assert 0.7 * at_rate <= sent["seconds"] <= 2.5 * at_rate

    a.restore()
    again = tool(a, "tcp-client", "--to", server.ip, "--port", str(download))
    assert again["seconds"] < 0.3 * at_rate


def test_drop_random_loses_about_the_share_asked_for_each_way(bed: NetBed) -> None:
    server, a = bed.server, bed.sites["A"]
    echo, port = udp_echo(server)
    a.drop_random(50)
    replies = udp_replies(a, server.ip, port, count=200, wait=1.0)
    arrived = echo_received(echo)
    # Binomial(200, ½) has a standard deviation of 7: these bounds are ±5½ of them.
    assert 60 <= arrived <= 140
    # The echoes cross A's link again, inbound, and lose half once more.
    assert 0.2 * arrived <= replies <= 0.8 * arrived

    a.restore()
    _, port = udp_echo(server)
    assert udp_replies(a, server.ip, port, count=200) == 200


def test_teardown_kills_processes_and_removes_namespaces_when_the_body_raises() -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError, match="test body failed"), NetBed(["X"]) as bed:
        names = bed.namespaces
        tracked = bed.server.popen(["sleep", "600"])
        # As Playwright starts Chromium through chromium_wrapper: not the bed's child.
        untracked = subprocess.Popen(bed.sites["X"].wrap(["sleep", "600"]))
        raise RuntimeError("test body failed")
    assert len(names) == 3
    assert not set(names) & set(list_netns())
    assert tracked.poll() is not None
    assert untracked.wait(timeout=5) != 0


def test_close_removes_namespaces_and_is_idempotent() -> None:
    bed = NetBed(["X", "Y"])
    names = bed.namespaces
    assert len(names) == 4
    bed.close()
    bed.close()
    assert not set(names) & set(list_netns())


def test_two_beds_on_the_same_subnet_do_not_see_each_other(bed: NetBed) -> None:
    with NetBed(["A"]) as other:
        assert not set(other.namespaces) & set(bed.namespaces)
        port = tcp_server(other.server, other.server.ip)
        assert other.sites["A"].can_connect_tcp(other.server.ip, port)
        assert not bed.sites["A"].can_connect_tcp(bed.server.ip, port)


def test_remove_leftovers_deletes_beds_of_dead_runs_only(bed: NetBed) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = f"netbed-{gone.pid}-abcdef-sw"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    sleeper = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "600"])
    assert sleeper.pid != gone.pid

    assert remove_leftovers() == [stale]
    assert stale not in list_netns()
    assert sleeper.wait(timeout=5) != 0
    assert set(bed.namespaces) <= set(list_netns()), "a live bed is not a leftover"


def test_chromium_wrapper_starts_the_program_inside_the_host(bed: NetBed, tmp_path: Path) -> None:
    site = bed.sites["B"]
    fake = tmp_path / "fake-chromium"
    fake.write_text(
        '#!/bin/sh\necho "$HOME|$EXTRA|$(readlink /proc/self/ns/net)"\n'
        'for arg in "$@"; do echo "[$arg]"; done\n'
    )
    fake.chmod(0o755)
    home = tmp_path / "home dir"
    script = chromium_wrapper(site, tmp_path / "bin", str(fake), home=home, env={"EXTRA": "a b"})

    done = subprocess.run([str(script), "--x", "two words"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    netns_inode = os.stat(f"/run/netns/{site.netns}").st_ino
    assert done.stdout.splitlines() == [f"{home}|a b|net:[{netns_inode}]", "[--x]", "[two words]"]

    real = chromium_wrapper(site, tmp_path / "bin")
    version = subprocess.run([str(real), "--version"], capture_output=True, text=True, timeout=30)
    assert "Chromium" in version.stdout, version.stderr


def test_trust_ca_makes_an_nss_database_that_trusts_the_ca(tmp_path: Path) -> None:
    cert = tmp_path / "ca.crt"
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    files = ["-keyout", str(tmp_path / "ca.key"), "-out", str(cert), "-days", "2"]
    name = ["-subj", "/CN=Netbed Test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
    argv = ["openssl", "req", "-x509", *key, *files, *name]
    subprocess.run(argv, check=True, capture_output=True)
    home = tmp_path / "home"
    trust_ca(home, cert)
    trust_ca(home, cert)  # a second run (fresh CA after a reinstall) replaces, not piles up

    nssdb = f"sql:{home / '.pki' / 'nssdb'}"
    listing = subprocess.run(["certutil", "-L", "-d", nssdb], capture_output=True, text=True)
    entries = [line for line in listing.stdout.splitlines() if "Diem Cau local CA" in line]
    assert len(entries) == 1
    assert entries[0].split()[-1] == "C,,"
