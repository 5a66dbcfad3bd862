"""What listens on which port of this machine, and which program holds it (`diemcau doctor`).

Read from ``ss -lntupH`` (iproute2), which names the program when we may see it (as root,
or our own processes); without ``ss``, from ``/proc/net/{tcp,tcp6,udp,udp6}``, which does
not. A UDP socket counts as listening when it is bound and not connected (``ss -l``'s
UNCONN), which is how Janus's RTP sockets and coturn's UDP port look.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Proto = Literal["tcp", "udp"]

_PROCESS = re.compile(r'\("(?P<name>[^"]*)",pid=(?P<pid>\d+)')


@dataclass(frozen=True)
class Listener:
    proto: Proto
    address: str  # "0.0.0.0", "::", "127.0.0.1", "::1", "10.77.0.1"
    port: int
    program: str = ""  # "" when the process is not visible to us
    pid: int | None = None

    @property
    def any_address(self) -> bool:
        """Bound to every address (0.0.0.0, ::, or ss's "*")."""
        return self.address in ("0.0.0.0", "::", "*")  # noqa: S104 - a bound address, read

    @property
    def loopback(self) -> bool:
        try:
            address = ipaddress.ip_address(self.address)
        except ValueError:
            return False
        # Python before 3.13 does not call ::ffff:127.0.0.1 loopback.
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped.is_loopback
        return address.is_loopback

    @property
    def where(self) -> str:
        host = "*" if self.any_address else self.address
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def holder(self) -> str:
        """ "caddy (pid 12)", or "" when not visible."""
        if not self.program:
            return ""
        return f"{self.program} (pid {self.pid})" if self.pid else self.program


def _split_address(text: str) -> tuple[str, int] | None:
    """ss's "Local Address:Port": 0.0.0.0:443, *:3478, [::]:443, [::ffff:127.0.0.1]:8000,
    127.0.0.53%lo:53, [fe80::1]%eth0:123."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.split("%", 1)[0]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def parse_ss(text: str) -> list[Listener]:
    """Lines of ``ss -lntupH``: Netid State Recv-Q Send-Q Local Peer [Process]."""
    found: list[Listener] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[0] not in ("tcp", "udp"):
            continue
        local = _split_address(fields[4])
        if local is None:
            continue
        proto: Proto = "tcp" if fields[0] == "tcp" else "udp"
        process = " ".join(fields[6:])
        programs = _PROCESS.findall(process)
        if not programs:
            found.append(Listener(proto, local[0], local[1]))
        # A socket shared by several processes (a forking server) is listed once per process.
        for name, pid in programs:
            found.append(Listener(proto, local[0], local[1], name, int(pid)))
    return found


def _hex_address(text: str) -> tuple[str, int]:
    """/proc/net's "0100007F:1628": the address in the kernel's byte order (little-endian
    32-bit words on the machines we run on), the port big-endian."""
    address, port = text.split(":")
    raw = bytes.fromhex(address)
    # Each 32-bit word is stored little-endian.
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(swapped)), int(port, 16)


def parse_proc_net(text: str, proto: Proto) -> list[Listener]:
    """One of /proc/net/{tcp,tcp6,udp,udp6}: listening TCP (state 0A) and bound,
    unconnected UDP (remote port 0)."""
    found: list[Listener] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        try:
            (address, port), (_remote, remote_port) = (
                _hex_address(fields[1]),
                _hex_address(fields[2]),
            )
        except ValueError:
            continue
        listening = fields[3] == "0A" if proto == "tcp" else remote_port == 0
        if listening:
            found.append(Listener(proto, address, port))
    return found


def listeners() -> list[Listener]:
    """Every listening TCP and bound UDP socket of this machine (this network namespace)."""
    ss = shutil.which("ss") or shutil.which("ss", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if ss:
        try:
            out = subprocess.run(  # noqa: S603 - fixed arguments
                [ss, "-lntupH"], capture_output=True, text=True, timeout=10, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError):
            pass
        else:
            return parse_ss(out)
    found: list[Listener] = []
    tables: tuple[tuple[str, Proto], ...] = (
        ("tcp", "tcp"),
        ("tcp6", "tcp"),
        ("udp", "udp"),
        ("udp6", "udp"),
    )
    for name, proto in tables:
        try:
            text = Path("/proc/net", name).read_text()
        except OSError:
            continue
        found += parse_proc_net(text, proto)
    return found


def on_port(found: Iterable[Listener], proto: Proto, port: int) -> list[Listener]:
    return [s for s in found if s.proto == proto and s.port == port]


__all__ = ["Listener", "listeners", "on_port", "parse_proc_net", "parse_ss"]
