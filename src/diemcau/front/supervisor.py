"""Run Caddy (the HTTPS front) as a child process and keep it running.

Docs: docs/deploy.md. Ready means: the HTTPS port accepts connections and, with the local
CA, Caddy has written the CA's root (which `/ca/` offers).
"""

from __future__ import annotations

from pathlib import Path

from diemcau.childprocess import StartError, Supervisor, accepts_tcp
from diemcau.config import FrontSettings

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
            return False
        return await accepts_tcp("127.0.0.1", self.front.https_port)


__all__ = ["CaddyStartError", "CaddySupervisor"]
