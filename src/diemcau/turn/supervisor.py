"""Run coturn as a child process and keep it running (like Janus and Caddy).

Ready means: its TURN port accepts a TCP connection on the relay address. A new TLS
certificate (see certificate.py) needs a restart: coturn 4.6 cannot reload one.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from diemcau.childprocess import StartError, Supervisor, accepts_tcp
from diemcau.config import FrontSettings, TurnSettings

from . import certificate, turnconfig
from .turnconfig import TurnConfig

log = logging.getLogger(__name__)


class TurnStartError(StartError):
    """coturn did not come up; the message names the log file to read."""


def embedded_config(
    turn: TurnSettings, front: FrontSettings, folder: Path, media_ip: str
) -> TurnConfig:
    """coturn's config from our settings; the TLS certificate by the front's mode."""
    tls = None
    if turn.tls_port:
        try:
            tls = certificate.tls_files(front, folder)
        except certificate.CertificateUnavailable as exc:
            log.warning("TURN over TLS is off: %s", exc)
    return TurnConfig(
        folder=folder,
        secret=turn.secret,
        realm=front.address,
        relay_ip=media_ip,
        port=turn.port,
        tls_port=turn.tls_port if tls else 0,
        cert_file=tls.cert if tls else None,
        key_file=tls.key if tls else None,
        relay_min_port=turn.relay_ports.min,
        relay_max_port=turn.relay_ports.max,
        public_ip=turn.public_ip,
        max_bps=turn.max_bps,
        user_quota=turn.user_quota,
        total_quota=turn.total_quota,
    )


class TurnSupervisor(Supervisor):
    name = "coturn"
    start_error = TurnStartError

    def __init__(
        self,
        config: TurnConfig,
        *,
        front: FrontSettings | None = None,
        binary: str = turnconfig.TURNSERVER_BINARY,
        start_timeout: float = 15.0,
    ) -> None:
        super().__init__(start_timeout=start_timeout)
        self.config = config
        self.front = front
        self.binary = binary
        self._stamp = self._tls_stamp()

    def prepare(self) -> None:
        turnconfig.write(self.config)

    def argv(self) -> list[str]:
        return turnconfig.command(self.config, self.binary)

    @property
    def output_log(self) -> Path:
        return self.config.folder / "turn.stdout.log"

    @property
    def log_hint(self) -> str:
        return f"{self.config.log_file} and {self.output_log}"

    async def ready(self) -> bool:
        return await accepts_tcp(self.config.relay_ip, self.config.port)

    async def refresh_certificate(self) -> bool:
        """Re-issue or pick up a renewed TLS certificate; restart coturn if it changed."""
        if self.front is None or not self.config.tls_port:
            return False
        try:
            files = certificate.tls_files(self.front, self.config.folder, running=True)
        except certificate.CertificateUnavailable as exc:
            log.warning("TURN certificate: %s", exc)
            return False
        if files is None:
            return False
        self.config = dataclasses.replace(self.config, cert_file=files.cert, key_file=files.key)
        stamp = self._tls_stamp()
        if stamp == self._stamp:
            return False
        log.info("TURN certificate renewed: restarting coturn")
        await self.stop()
        await self.start()
        self._stamp = stamp
        return True

    def _tls_stamp(self) -> tuple[float, float] | None:
        c = self.config
        if c.cert_file is None or c.key_file is None:
            return None
        try:
            return certificate.TlsFiles(c.cert_file, c.key_file).stamp()
        except OSError:
            return None


__all__ = ["TurnStartError", "TurnSupervisor", "embedded_config"]
