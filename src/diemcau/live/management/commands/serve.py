"""`diemcau serve`: the embedded Janus, the HTTPS front (Caddy) and the TURN relay (coturn),
all supervised, and the web app, in one process. Docs: docs/deploy.md."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from diemcau import config
from diemcau.childprocess import StartError, Supervisor
from diemcau.front import certs, csp
from diemcau.front.caddyconfig import Upstreams
from diemcau.front.supervisor import CaddySupervisor
from diemcau.live import mediaserver
from diemcau.live.media_policy import enforce_all
from diemcau.media.supervisor import JanusSupervisor
from diemcau.sfu.upkeep import keep_rooms
from diemcau.turn.supervisor import TurnSupervisor, embedded_config

CERTIFICATE_CHECK_SECONDS = 3600.0

log = logging.getLogger("diemcau.serve")


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising the signal that stopped it.

    uvicorn 0.54 re-raises SIGTERM/SIGINT once it has shut down, which kills this process
    before `serve` stops Janus, Caddy and coturn in order (they then die by SIGKILL through
    PDEATHSIG). The signal has done its job by then: `serve` finishes its own shutdown and
    exits. (Relies on uvicorn's `_captured_signals`; tests/integration/test_serve_shutdown.py
    fails if that changes.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()


class Command(BaseCommand):
    help = "Start Janus (unless --janus-url is given), the HTTPS front and the web app."

    def add_arguments(self, parser: CommandParser) -> None:
        # Loopback: browsers reach the app only through the HTTPS front.
        parser.add_argument("--host", default="127.0.0.1", help="address the web app listens on")
        parser.add_argument("--port", type=int, default=settings.FRONT.app_port)
        parser.add_argument(
            "--janus-url",
            default="",
            help="use this external Janus (ws://host:8188) instead of starting one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["janus_url"]:
            settings.JANUS = dataclasses.replace(
                settings.JANUS,
                url=options["janus_url"],
                public_url=options["janus_url"],
                embedded=False,
            )
            settings.SECURE_CSP = csp.policy(settings.FRONT, settings.JANUS.public_url)
        try:
            asyncio.run(self._serve(options["host"], options["port"]))
        except StartError as exc:
            self.stderr.write(self.style.ERROR(_("Could not start: %(err)s") % {"err": exc}))
            self.stderr.write(_("Run `diemcau doctor` to see what is wrong."))
            raise SystemExit(1) from exc
        except KeyboardInterrupt:
            pass

    async def _serve(self, host: str, port: int) -> None:
        front = settings.FRONT
        self._check_port_free(host, port, "--port")
        if front.mode not in ("external", "none"):
            self._check_port_free("0.0.0.0", front.https_port, "DIEMCAU_HTTPS_PORT")  # noqa: S104
            self._check_port_free("0.0.0.0", front.http_port, "DIEMCAU_HTTP_PORT")  # noqa: S104
        turn = settings.TURN
        if turn.mode == "embedded":
            self._check_port_free("0.0.0.0", turn.port, "DIEMCAU_TURN_PORT")  # noqa: S104
        # Started in this order, stopped in the reverse one.
        children: list[Supervisor] = []
        supervisor: JanusSupervisor | None = None
        coturn: TurnSupervisor | None = None
        try:
            if settings.JANUS.embedded:
                supervisor = JanusSupervisor(mediaserver.embedded_config())
                await supervisor.start()
                children.append(supervisor)
                self.stdout.write(f"Janus: {supervisor.url} (pid {supervisor.pid})")
            else:
                self.stdout.write(f"Janus: {settings.JANUS.url} (external)")
            if front.mode not in ("external", "none"):
                caddy = CaddySupervisor(front, Upstreams(app_port=port))
                await caddy.start()
                children.append(caddy)
                self.stdout.write(
                    f"Caddy: HTTPS {front.https_port}, HTTP {front.http_port} (pid {caddy.pid})"
                )
            if turn.mode == "embedded":
                # After Caddy: TURN over TLS uses a certificate from its local CA.
                coturn = TurnSupervisor(
                    embedded_config(turn, front, settings.DATA_DIR / "turn", config.primary_ip()),
                    front=front,
                )
                await coturn.start()
                children.append(coturn)
                tls = coturn.config.tls_port
                self.stdout.write(
                    f"TURN: UDP+TCP {turn.port}"
                    + (f", TLS {tls}" if tls else ", no TLS")
                    + f" (pid {coturn.pid})"
                )
        except StartError:
            await self._stop_all(children)
            raise
        # Rooms re-created after a Janus restart, mutes and publishing rights enforced.
        checker = asyncio.create_task(keep_rooms(enforce_all))
        renewer = asyncio.create_task(self._keep_certificate(coturn)) if coturn else None
        server = _Server(
            uvicorn.Config(
                "diemcau.asgi:application",
                host=host,
                port=port,
                lifespan="off",
                ws="auto",
                # A control message is a few hundred bytes; anything near this is abuse and
                # is refused by the protocol itself (the consumer refuses above 16 KiB).
                ws_max_size=64 * 1024,
                log_level="info",
                # The browser's address and scheme from the front's X-Forwarded-* headers,
                # believed from the front alone (none without one: DIEMCAU_FRONT=none).
                proxy_headers=bool(front.trusted_proxies),
                forwarded_allow_ips=list(front.trusted_proxies),
            )
        )
        announcer = asyncio.create_task(self._announce(server, host, port))
        try:
            await server.serve()
        finally:
            announcer.cancel()
            for task in (checker, renewer):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self._stop_all(children)

    async def _stop_all(self, children: list[Supervisor]) -> None:
        for child in reversed(children):
            await child.stop()

    async def _keep_certificate(self, coturn: TurnSupervisor) -> None:
        """A long-running server: coturn's certificate renewed before it expires."""
        while True:
            await asyncio.sleep(CERTIFICATE_CHECK_SECONDS)
            try:
                await coturn.refresh_certificate()
            except (StartError, OSError, ValueError) as exc:
                log.error("renewing the TURN certificate failed: %s", exc)

    def _check_port_free(self, host: str, port: int, setting: str) -> None:
        """Fail before starting Janus if the web port is taken (another `serve` running?)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise CommandError(
                    _(
                        "Port %(port)d is already in use (%(err)s): Điểm Cầu or another program "
                        "is running there. Stop it, or choose another port with %(setting)s."
                    )
                    % {"port": port, "err": exc.strerror, "setting": setting}
                ) from exc

    async def _announce(self, server: uvicorn.Server, host: str, port: int) -> None:
        """Say where to go only once the web app really listens."""
        while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
            await asyncio.sleep(0.1)
        front = settings.FRONT
        if front.mode in ("external", "none"):
            address = f"http://{host}:{port}/"
        else:
            address = front.origin() + "/"
        self.stdout.write(
            self.style.SUCCESS(_("Điểm Cầu is running: open %(url)s") % {"url": address})
        )
        if front.mode == "internal":
            root = await sync_to_async(certs.load_root)(front.ca_root)
            if root is not None:
                self.stdout.write(
                    _(
                        "Room PCs trust this server once they install its certificate from "
                        "%(ca)s (SHA-256 %(fingerprint)s)."
                    )
                    % {"ca": front.ca_url, "fingerprint": root.sha256}
                )
