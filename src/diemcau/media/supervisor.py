"""Run Janus as a child process and keep it running.

Docs: docs/janus.md. ``JanusSupervisor`` renders the config folder, starts ``janus``, waits
until it answers an ``info`` request on its WebSocket, and restarts it with backoff
whenever it exits (the supervision itself is ``diemcau.childprocess``).
"""

from __future__ import annotations

from pathlib import Path

from diemcau.childprocess import StartError, Supervisor

from . import janusconfig
from .client import probe_info
from .errors import JanusConnectionError, JanusTimeout
from .janusconfig import JanusConfig

JANUS_BINARY = "/usr/bin/janus"


class JanusStartError(StartError):
    """Janus did not come up; the message names the log file to read."""


class JanusSupervisor(Supervisor):
    name = "Janus"
    start_error = JanusStartError

    def __init__(
        self,
        config: JanusConfig,
        *,
        janus_binary: str = JANUS_BINARY,
        start_timeout: float = 20.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        super().__init__(
            start_timeout=start_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            stable_after=stable_after,
        )
        self.config = config
        self.janus_binary = janus_binary

    @property
    def url(self) -> str:
        return self.config.ws_url

    def prepare(self) -> None:
        janusconfig.write(self.config)

    def argv(self) -> list[str]:
        return janusconfig.command(self.config, self.janus_binary)

    @property
    def output_log(self) -> Path:
        # Log lines go to janus.log; this catches what Janus prints before that opens.
        return self.config.folder / "janus.stdout.log"

    @property
    def log_hint(self) -> str:
        return f"{self.config.log_file} and {self.output_log}"

    async def ready(self) -> bool:
        try:
            await probe_info(self.url, timeout=1.0)
        except (JanusConnectionError, JanusTimeout):
            return False
        return True


__all__ = ["JanusStartError", "JanusSupervisor"]
