"""`diemcau serve`: the embedded Janus and the HTTPS front (Caddy), both supervised, and the
web app, in one process. Docs: docs/deploy.md."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from diemcau.childprocess import StartError
from diemcau.front import certs
from diemcau.front.caddyconfig import Upstreams
from diemcau.front.supervisor import CaddySupervisor
from diemcau.live import mediaserver
from diemcau.media.supervisor import JanusSupervisor

log = logging.getLogger("diemcau.serve")

ROOM_CHECK_SECONDS = 10.0


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
        supervisor: JanusSupervisor | None = None
        caddy: CaddySupervisor | None = None
        if settings.JANUS.embedded:
            supervisor = JanusSupervisor(mediaserver.embedded_config())
            await supervisor.start()
            self.stdout.write(f"Janus: {supervisor.url} (pid {supervisor.pid})")
        else:
            self.stdout.write(f"Janus: {settings.JANUS.url} (external)")
        if front.mode not in ("external", "none"):
            janus_port = urlsplit(settings.JANUS.url).port or 8188
            caddy = CaddySupervisor(front, Upstreams(app_port=port, janus_ws_port=janus_port))
            try:
                await caddy.start()
            except StartError:
                if supervisor is not None:
                    await supervisor.stop()
                raise
            self.stdout.write(
                f"Caddy: HTTPS {front.https_port}, HTTP {front.http_port} (pid {caddy.pid})"
            )
        checker = asyncio.create_task(self._keep_rooms())
        server = uvicorn.Server(
            uvicorn.Config(
                "diemcau.asgi:application",
                host=host,
                port=port,
                lifespan="off",
                ws="auto",
                log_level="info",
                proxy_headers=True,
            )
        )
        announcer = asyncio.create_task(self._announce(server, host, port))
        try:
            await server.serve()
        finally:
            announcer.cancel()
            checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker
            if caddy is not None:
                await caddy.stop()
            if supervisor is not None:
                await supervisor.stop()

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

    async def _keep_rooms(self) -> None:
        """Re-create live meetings' rooms whenever Janus has lost them (after a restart)."""
        from diemcau.live.media_policy import enforce_all
        from diemcau.live.rooms import MediaUnavailable
        from diemcau.meetings.services import restore_live_rooms

        while True:
            try:
                await sync_to_async(restore_live_rooms, thread_sensitive=False)()
                # Also the safety net for mutes: a publisher that got past them (a race
                # between two app processes, an impostor feed id) is corrected here.
                await sync_to_async(enforce_all, thread_sensitive=False)()
            except MediaUnavailable as exc:
                log.warning("cannot check live rooms: %s", exc)
            await asyncio.sleep(ROOM_CHECK_SECONDS)
