"""The namespaces, the bridge, link shaping and the browser/NSS helpers (see the package
docstring for the picture)."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

NETNS_PREFIX = "netbed-"
HOST_DEV = "eth0"
BRIDGE_DEV = "br0"

# Namespaces made with a generated prefix carry the creating process's PID, so a later run
# can tell a crashed bed (PID gone) from a live one of a concurrent test run.
_GENERATED = re.compile(rf"^{re.escape(NETNS_PREFIX)}(\d+)-[0-9a-f]+-")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

# A kernel built without IPv6 has no such file, and nothing to disable.
_DISABLE_IPV6 = "f=/proc/sys/net/ipv6/conf/{dev}/disable_ipv6; [ ! -e $f ] || echo 1 > $f"

Direction = Literal["both", "egress", "ingress"]


def _tool(name: str) -> str:
    # Absolute paths, so a caller's env without /usr/sbin in PATH cannot break `ip netns exec`.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin") or name


def _ip(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("ip"), *args], check=check, capture_output=True, text=True, timeout=timeout
    )


def _run(argv: list[str], *, check: bool = True, input: str | None = None) -> str:
    try:
        done = subprocess.run(
            argv, check=check, capture_output=True, text=True, timeout=30, input=input
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"{shlex.join(argv)} failed ({exc.returncode}): {exc.stderr.strip()}"
        ) from exc
    return done.stdout


def list_netns() -> list[str]:
    """Names of every network namespace `ip netns` knows."""
    out = _ip("netns", "list").stdout
    # Lines look like "name" or "name (id: 3)".
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(netns: str) -> list[int]:
    done = _ip("netns", "pids", netns, check=False)
    return [int(word) for word in done.stdout.split() if word.isdigit()]


def _kill_netns_processes(netns: str, grace: float = 3.0) -> None:
    """Every process living in the namespace, tracked or not (a browser Playwright started
    through chromium_wrapper is not ours to track), gets SIGTERM, then SIGKILL."""
    pids = netns_pids(netns)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = netns_pids(netns)
        if not pids:
            return


def _delete_netns(netns: str) -> None:
    _kill_netns_processes(netns)
    # Deleting the namespace of a host also destroys its veth, and so the peer in the switch.
    _ip("netns", "delete", netns, check=False)


def _pid_alive(pid: int) -> bool:
    # A reused PID makes a dead run's bed look alive: it stays until that PID is gone too.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(prefix: str | None = None) -> list[str]:
    """Delete namespaces of earlier beds whose creating process is gone (a crashed or killed
    test run), killing what still runs in them; with ``prefix``, delete every namespace of
    that prefix whatever made it. Returns the names deleted."""
    removed = []
    for name in list_netns():
        if prefix is not None:
            stale = name.startswith(f"{NETNS_PREFIX}{prefix}-")
        else:
            match = _GENERATED.match(name)
            stale = match is not None and not _pid_alive(int(match.group(1)))
        if stale:
            _delete_netns(name)
            removed.append(name)
    return removed


@dataclass
class Host:
    """One machine of the bed: a network namespace with one interface (``dev``) cabled to
    the bridge port ``switch_dev``. Shaping and filters act on that cable only, never on
    ``lo``, so a host's own loopback traffic (web app ↔ Redis, Caddy ↔ uvicorn) is
    untouched."""

    name: str
    netns: str
    ip: str
    dev: str = HOST_DEV
    # The other end of this host's cable: a port of the bridge in the switch namespace.
    # Its egress is what the host receives, which is where a downlink limit has to sit.
    switch_netns: str = ""
    switch_dev: str = ""
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _qdisc_on: set[str] = field(default_factory=set, repr=False)
    _nft_on: bool = field(default=False, repr=False)

    # --- processes --------------------------------------------------------------------------

    def wrap(self, argv: list[str]) -> list[str]:
        return [_tool("ip"), "netns", "exec", self.netns, *argv]

    def run(
        self,
        *argv: str,
        check: bool = True,
        timeout: float = 30,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion inside this host; ``env`` replaces the environment,
        as with subprocess."""
        return subprocess.run(
            self.wrap(list(argv)),
            check=check,
            timeout=timeout,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )

    def popen(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        stdout: Any = None,
        stderr: Any = None,
        cwd: str | None = None,
        stdin: Any = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running program inside this host; the bed stops it on teardown.
        ``ip netns exec`` execs the program, so the Popen's pid is the program's own.
        ``env`` replaces the environment, as with subprocess."""
        proc = subprocess.Popen(
            self.wrap(argv),
            env=env,
            stdout=stdout,
            stderr=stderr,
            stdin=stdin,
            cwd=cwd,
            # Its own process group, so stopping it also stops what it forked.
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def popen_ready(
        self,
        argv: list[str],
        *,
        ready: str = "READY",
        timeout: float = 10.0,
        env: dict[str, str] | None = None,
        stderr: Any = None,
    ) -> tuple[subprocess.Popen[bytes], str]:
        """popen with stdout piped, then wait for a line starting with ``ready``; returns
        the process and that line (tools.py servers print "READY <port>")."""
        proc = self.popen(argv, env=env, stdout=subprocess.PIPE, stderr=stderr)
        return proc, wait_for_line(proc, ready, timeout)

    def kill_processes(self, grace: float = 3.0) -> None:
        """Stop what popen started (process group: SIGTERM, then SIGKILL), then anything
        else still running in the namespace."""
        procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=grace)
        _kill_netns_processes(self.netns, grace)

    def can_connect_tcp(self, ip: str, port: int, timeout: float = 2.0) -> bool:
        address = (ip, int(port))
        code = (
            "import socket, sys\n"
            "try:\n"
            f"    socket.create_connection({address!r}, timeout={float(timeout)}).close()\n"
            "except OSError:\n"
            "    sys.exit(1)\n"
        )
        done = self.run(sys.executable, "-c", code, check=False, timeout=timeout + 10)
        return done.returncode == 0

    # --- link shaping -------------------------------------------------------------------------

    def limit_rate(
        self,
        kbit: int,
        *,
        direction: Direction | str = "both",
        latency_ms: int = 100,
        burst_bytes: int | None = None,
    ) -> None:
        """Token bucket on this host's link. "egress" limits what the host sends (its
        interface), "ingress" what it receives (the bridge port facing it; a qdisc only
        shapes what leaves a device). ``latency_ms`` bounds the queue: packets that would
        wait longer are dropped, as on a real congested uplink."""
        if kbit <= 0:
            raise ValueError("kbit must be positive")
        if direction not in ("both", "egress", "ingress"):
            raise ValueError(f"direction must be both, egress or ingress, not {direction!r}")
        # A small bucket keeps the cap tight over short windows; it must still hold one
        # full-size frame (tbf splits bigger offloaded segments by itself).
        burst = burst_bytes or max(kbit * 1000 // 8 // 50, 4 * 1514)
        spec = ["tbf", "rate", f"{kbit}kbit", "burst", str(burst), "latency", f"{latency_ms}ms"]
        if direction in ("both", "egress"):
            self._tc(self.netns, self.dev, ["replace", *spec])
            self._qdisc_on.add("egress")
        if direction in ("both", "ingress"):
            self._tc(self.switch_netns, self.switch_dev, ["replace", *spec])
            self._qdisc_on.add("ingress")

    def drop_random(self, percent: int, *, direction: Direction | str = "both") -> None:
        """Lose ``percent`` % of the IPv4 packets in each chosen direction, independently (a
        UDP round trip through both loses 1 - (1 - p)² of its exchanges). ARP is spared, so
        the loss is the link's, not a neighbour table's."""
        if not 0 <= percent <= 100:
            raise ValueError("percent must be between 0 and 100")
        self._filter(f"ether type ip numgen random mod 100 < {int(percent)} drop", direction)

    def block_udp(self, *, to: str | None = None) -> None:
        """Drop UDP in both directions (only to/from address ``to`` if given) — what a
        firewall that lets only TCP through does to WebRTC media."""
        if to is None:
            self._filter("meta l4proto udp drop")
        else:
            socket.inet_aton(to)  # an address, not nft syntax
            self._nft(
                [
                    f"iifname {self.switch_dev} ip daddr {to} meta l4proto udp drop",
                    f"oifname {self.switch_dev} ip saddr {to} meta l4proto udp drop",
                ]
            )

    def block_ports(self, *, to: str, proto: str, ports: str) -> None:
        """Drop ``proto`` (udp/tcp) traffic to and from ``to``'s ``ports`` ("3478",
        "40000-40999") — a firewall that lets some services through and not others."""
        if proto not in ("udp", "tcp"):
            raise ValueError(f"proto must be udp or tcp, not {proto!r}")
        socket.inet_aton(to)
        if not re.fullmatch(r"\d{1,5}(-\d{1,5})?", ports):
            raise ValueError(f"ports must be N or N-M, not {ports!r}")
        self._nft(
            [
                f"iifname {self.switch_dev} ip daddr {to} {proto} dport {ports} drop",
                f"oifname {self.switch_dev} ip saddr {to} {proto} sport {ports} drop",
            ]
        )

    def cut(self) -> None:
        """Pull the cable: every frame to or from this host is dropped."""
        self._filter("drop")

    def restore(self) -> None:
        """Undo every limit_rate, drop_random, block_udp, block_ports and cut on this host."""
        if "egress" in self._qdisc_on:
            self._tc(self.netns, self.dev, ["del"], check=False)
        if "ingress" in self._qdisc_on:
            self._tc(self.switch_netns, self.switch_dev, ["del"], check=False)
        self._qdisc_on.clear()
        if self._nft_on:
            nft = [_tool("ip"), "netns", "exec", self.switch_netns, _tool("nft")]
            _run([*nft, "delete", "table", "bridge", self.nft_table], check=False)
            self._nft_on = False

    @property
    def nft_table(self) -> str:
        """This host's nftables table (family bridge) in the switch namespace."""
        return "link_" + re.sub(r"[^A-Za-z0-9]", "_", self.switch_dev)

    def _tc(self, netns: str, dev: str, action: list[str], *, check: bool = True) -> None:
        verb, *spec = action
        argv = [_tool("ip"), "netns", "exec", netns, _tool("tc"), "qdisc", verb, "dev", dev]
        _run([*argv, "root", *spec], check=check)

    def _filter(self, verdict: str, direction: Direction | str = "both") -> None:
        if direction not in ("both", "egress", "ingress"):
            raise ValueError(f"direction must be both, egress or ingress, not {direction!r}")
        rules = []
        # On the bridge, frames the host sent come in on its port, frames for it go out.
        if direction in ("both", "egress"):
            rules.append(f"iifname {self.switch_dev} {verdict}")
        if direction in ("both", "ingress"):
            rules.append(f"oifname {self.switch_dev} {verdict}")
        self._nft(rules)

    def _nft(self, rules: list[str]) -> None:
        # Filters sit on the bridge (switch namespace), not in the host's own output hook:
        # there a dropped packet makes the sender's sendto() fail with EPERM, which no real
        # lossy link does and which WebRTC stacks treat differently from silent loss.
        # "add" of a table or chain that exists is a no-op, so filters stack until restore().
        table = f"bridge {self.nft_table}"
        script = "\n".join(
            [
                f"add table {table}",
                f"add chain {table} links {{ type filter hook forward priority 0 ; }}",
                *(f"add rule {table} links {rule}" for rule in rules),
                "",
            ]
        )
        nft = [_tool("ip"), "netns", "exec", self.switch_netns, _tool("nft")]
        _run([*nft, "-f", "-"], input=script)
        self._nft_on = True


class NetBed:
    """A switch namespace holding one bridge, a server namespace (.1) and one namespace per
    site (.11, .12, … in the order given), all on ``<subnet>.0/24``. Built on construction;
    ``close()`` (or leaving the ``with`` block) stops every process in it and deletes it."""

    def __init__(
        self, sites: list[str], *, subnet: str = "10.77.0", prefix: str | None = None
    ) -> None:
        if len(set(sites)) != len(sites):
            raise ValueError(f"site names must be unique: {sites}")
        if len(sites) > 243:
            raise ValueError("at most 243 sites fit in a /24 from .11")
        for site in sites:
            if not _SAFE_NAME.match(site) or site == "sw" or site == "server":
                raise ValueError(f"unusable site name {site!r}")
        socket.inet_aton(f"{subnet}.0")
        if prefix is not None and not _SAFE_NAME.match(prefix):
            raise ValueError(f"unusable prefix {prefix!r}")

        self.subnet = subnet
        self.closed = False
        remove_leftovers()
        if prefix is None:
            prefix = f"{os.getpid()}-{secrets.token_hex(3)}"
        else:
            # A fixed prefix is the caller's promise that no live bed uses it.
            remove_leftovers(prefix)
        self.prefix = prefix
        self.switch_netns = f"{NETNS_PREFIX}{prefix}-sw"
        self._created: list[str] = []
        self._hosts: list[Host] = []
        atexit.register(self.close)
        try:
            self.server = self._add_host("server", f"{NETNS_PREFIX}{prefix}-server", 1, 0)
            self.sites = {
                name: self._add_host(name, f"{NETNS_PREFIX}{prefix}-site-{name}", 11 + i, i + 1)
                for i, name in enumerate(sites)
            }
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> NetBed:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def hosts(self) -> list[Host]:
        return [self.server, *self.sites.values()]

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of this bed that exists right now."""
        return [name for name in self._created if name in list_netns()]

    def restore(self) -> None:
        for host in self.hosts:
            host.restore()

    def close(self) -> None:
        """Stop every process in the bed and delete its namespaces. Idempotent; raises if a
        namespace survived, since a leftover would skew the next run."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        # _hosts, not hosts: a half-built bed may have no server or sites yet.
        for host in self._hosts:
            with contextlib.suppress(Exception):
                host.kill_processes()
        # Hosts first: their veths vanish with them, then the switch has nothing left.
        for name in reversed(self._created):
            _delete_netns(name)
        left = [name for name in self._created if name in list_netns()]
        if left:
            raise RuntimeError(f"network namespaces left behind: {left}")

    # --- building -------------------------------------------------------------------------------

    def _add_netns(self, name: str) -> None:
        _run([_tool("ip"), "netns", "add", name])
        self._created.append(name)
        # The server listens on 127.0.0.1 inside its namespace.
        _run([_tool("ip"), "-n", name, "link", "set", "lo", "up"])

    def _ensure_switch(self) -> None:
        if self.switch_netns in self._created:
            return
        self._add_netns(self.switch_netns)
        sw = [_tool("ip"), "netns", "exec", self.switch_netns]
        # The bridge and its ports carry frames only; no IPv6 link-local chatter on them.
        for key in ("all", "default"):
            _run([*sw, "sh", "-c", _DISABLE_IPV6.format(dev=key)])
        _run([_tool("ip"), "-n", self.switch_netns, "link", "add", BRIDGE_DEV, "type", "bridge"])
        _run([_tool("ip"), "-n", self.switch_netns, "link", "set", BRIDGE_DEV, "up"])

    def _add_host(self, name: str, netns: str, octet: int, port: int) -> Host:
        self._ensure_switch()
        self._add_netns(netns)
        switch_dev = f"p{port}-{name}"[:15]
        peer = f"h{port}"
        sw = [_tool("ip"), "-n", self.switch_netns]
        # Both ends are made inside the switch namespace and one is moved out, so no
        # interface ever appears in the machine's root namespace, even for a moment.
        _run([*sw, "link", "add", switch_dev, "type", "veth", "peer", "name", peer])
        _run([*sw, "link", "set", peer, "netns", netns])
        _run([*sw, "link", "set", switch_dev, "master", BRIDGE_DEV, "up"])
        inside = [_tool("ip"), "-n", netns]
        _run([*inside, "link", "set", peer, "name", HOST_DEV])
        # One IPv4 address per host: Janus and the browsers must not wander to IPv6
        # link-local candidates.
        _run([_tool("ip"), "netns", "exec", netns, "sh", "-c", _DISABLE_IPV6.format(dev=HOST_DEV)])
        ip = f"{self.subnet}.{octet}"
        _run([*inside, "addr", "add", f"{ip}/24", "dev", HOST_DEV])
        _run([*inside, "link", "set", HOST_DEV, "up"])
        host = Host(
            name=name, netns=netns, ip=ip, switch_netns=self.switch_netns, switch_dev=switch_dev
        )
        self._hosts.append(host)
        return host


def wait_for_line(proc: subprocess.Popen[bytes], prefix: str, timeout: float = 10.0) -> str:
    """Read ``proc``'s stdout (a pipe) until a line starts with ``prefix``; return that line.
    For helper servers that print "READY …" once they listen."""
    stream: IO[bytes] | None = proc.stdout
    if stream is None:
        raise ValueError("start the process with stdout=subprocess.PIPE")
    fd = stream.fileno()
    buffer = b""
    deadline = time.monotonic() + timeout
    while True:
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.decode(errors="replace")
            if text.startswith(prefix):
                return text
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no line starting with {prefix!r} within {timeout} s")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"process exited ({proc.wait()}) before printing {prefix!r}")
            buffer += chunk


def chromium_wrapper(
    host: Host,
    folder: Path,
    chromium: str = "/usr/bin/chromium",
    *,
    home: Path | None = None,
    env: dict[str, str] | None = None,
) -> Path:
    """Write an executable script that starts ``chromium`` inside ``host``'s namespace, for
    Playwright's ``launch(executable_path=…)``. Playwright drives the browser over
    --remote-debugging-pipe (inherited file descriptors), which ``ip netns exec`` keeps.
    ``home`` sets HOME (Chromium reads its NSS trust store from $HOME/.pki/nssdb); ``env``
    adds variables on top of those Playwright passes."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = dict(env or {})
    if home is not None:
        extra["HOME"] = str(home)
    assignments = [f"{key}={value}" for key, value in extra.items()]
    command = [_tool("ip"), "netns", "exec", host.netns, "/usr/bin/env", *assignments, chromium]
    script = folder / f"chromium-{host.name}"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n')
    script.chmod(0o755)
    return script


def trust_ca(home: Path, ca_cert: Path, nickname: str = "Diem Cau local CA") -> None:
    """Make ``ca_cert`` a trusted TLS issuer for a Chromium whose HOME is ``home``."""
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, exist_ok=True)
    db = f"sql:{nssdb}"
    certutil = _tool("certutil")
    if not (nssdb / "cert9.db").exists():
        _run([certutil, "-N", "--empty-password", "-d", db])
    # Replacing keeps a re-run with a regenerated CA from piling up stale copies.
    _run([certutil, "-D", "-n", nickname, "-d", db], check=False)
    _run([certutil, "-A", "-t", "C,,", "-n", nickname, "-i", str(ca_cert), "-d", db])


@functools.cache
def netbed_available() -> str | None:
    """None if network beds can be built here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for name, package in (("ip", "iproute2"), ("tc", "iproute2"), ("nft", "nftables")):
        if shutil.which(name) is None and shutil.which(name, path="/usr/sbin:/sbin") is None:
            return f"`{name}` is missing: apt-get install {package}"
    # Named like a bed, so remove_leftovers() finds it if this process dies mid-probe.
    probe = f"{NETNS_PREFIX}{os.getpid()}-{secrets.token_hex(3)}-probe"
    inside = ["ip", "netns", "exec", probe]
    tbf = ["tbf", "rate", "500kbit", "burst", "6056", "latency", "100ms"]
    # What a bed uses, each once: the same commands fail the same way in NetBed().
    nft = """add table bridge probe
add chain bridge probe links { type filter hook forward priority 0 ; }
add rule bridge probe links iifname v0 ether type ip numgen random mod 100 < 50 drop
add rule bridge probe links oifname v0 meta l4proto udp drop
"""
    steps: list[tuple[list[str], str | None]] = [
        (["ip", "netns", "add", probe], None),
        ([*inside, "true"], None),
        (["ip", "-n", probe, "link", "add", "br0", "type", "bridge"], None),
        (["ip", "-n", probe, "link", "add", "v0", "type", "veth", "peer", "name", "v1"], None),
        (["ip", "-n", probe, "link", "set", "v0", "master", "br0"], None),
        ([*inside, "tc", "qdisc", "add", "dev", "v0", "root", *tbf], None),
        ([*inside, "nft", "-f", "-"], nft),
    ]
    try:
        for argv, stdin in steps:
            try:
                _run([_tool(argv[0]), *argv[1:]], input=stdin)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                return f"cannot build a network bed: {exc}"
    finally:
        _ip("netns", "delete", probe, check=False)
    return None
