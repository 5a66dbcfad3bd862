"""Run Caddy (the HTTPS front) as a child process and keep it running.

Docs: docs/deploy.md. Ready means: the HTTPS port accepts connections and, with the local
CA, Caddy has written the CA's root (which `/ca/` offers) and presents a certificate for
every name of the server (it issues them just after it starts: a browser, or `diemcau
doctor`, that came a moment earlier got a TLS "internal error" for the address).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from pathlib import Path

from diemcau.childprocess import StartError, Supervisor, accepts_tcp
from diemcau.config import FrontSettings, server_addresses

from . import caddyconfig
from .caddyconfig import Upstreams

CADDY_BINARY = "/usr/bin/caddy"


class CaddyStartError(StartError):
    """Caddy did not come up; the message names the log file to read."""


class CaddySupervisor(Supervisor):
    name = "Caddy"
    start_error = CaddyStartError

    def __init__(
        self,
        front: FrontSettings,
        upstreams: Upstreams,
        *,
        caddy_binary: str = CADDY_BINARY,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(start_timeout=start_timeout)
        self.front = front
        self.upstreams = upstreams
        self.caddy_binary = caddy_binary
        self._local: set[str] | None = None

    def prepare(self) -> None:
        caddyconfig.write(self.front, self.upstreams)

    def argv(self) -> list[str]:
        return caddyconfig.command(self.front, self.caddy_binary)

    def env(self) -> dict[str, str]:
        return caddyconfig.environment(self.front)

    @property
    def output_log(self) -> Path:
        return self.front.folder / "caddy.stdout.log"

    @property
    def log_hint(self) -> str:
        return f"{self.front.folder / caddyconfig.LOG_FILE} and {self.output_log}"

    async def ready(self) -> bool:
        if self.front.mode == "internal" and not self.front.ca_root.is_file():
            self.waiting_for = f"no local CA at {self.front.ca_root} yet"
            return False
        if not await accepts_tcp("127.0.0.1", self.front.https_port):
            self.waiting_for = f"port {self.front.https_port} not open"
            return False
        if self.front.mode != "internal":
            return True  # ACME may take minutes; an organisation's certificate is there
        try:
            context = ssl.create_default_context(cafile=str(self.front.ca_root))
        except (OSError, ssl.SSLError) as exc:  # the root being written: next time
            self.waiting_for = f"the local CA is not readable yet ({exc})"
            return False
        for name in self._names_here():
            if not await presents_certificate(name, self.front.https_port, context):
                self.waiting_for = f"no certificate the local CA signed presented for {name}"
                return False
        return True

    def _names_here(self) -> list[str]:
        """The names a connection from this machine can check: DNS names (through
        127.0.0.1 with their SNI) and this machine's own addresses — not a public address
        behind NAT (DIEMCAU_PUBLIC_IP), which the machine may not reach itself."""
        if self._local is None:
            self._local = {*server_addresses(), "127.0.0.1", "::1"}
        here = []
        for name in self.front.names:
            try:
                ipaddress.ip_address(name)
            except ValueError:
                here.append(name)
                continue
            if name in self._local:
                here.append(name)
        return here


async def presents_certificate(
    name: str, port: int, context: ssl.SSLContext, within: float = 2.0
) -> bool:
    """Whether TLS to this machine's `port` for `name` succeeds with a certificate `context`
    trusts for that name: an address connected to as it is, a DNS name through 127.0.0.1
    with its SNI (as doctor's check does)."""
    try:
        ipaddress.ip_address(name)
        host = name
    except ValueError:
        host = "127.0.0.1"
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, server_hostname=name), within
        )
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True


__all__ = ["CaddyStartError", "CaddySupervisor", "presents_certificate"]
