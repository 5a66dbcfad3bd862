"""`diemcau serve`: the embedded Janus (supervised) and the web app, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from typing import Any

import uvicorn
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from diemcau.live import mediaserver
from diemcau.media.supervisor import JanusStartError, JanusSupervisor

log = logging.getLogger("diemcau.serve")

ROOM_CHECK_SECONDS = 10.0


class Command(BaseCommand):
    help = "Start Janus (unless --janus-url is given) and the web app."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="0.0.0.0", help="address the web app listens on")  # noqa: S104
        parser.add_argument("--port", type=int, default=8000)
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
        except JanusStartError as exc:
            self.stderr.write(self.style.ERROR(_("Janus did not start: %(err)s") % {"err": exc}))
            self.stderr.write(_("Run `diemcau doctor` to see what is wrong."))
            raise SystemExit(1) from exc
        except KeyboardInterrupt:
            pass

    async def _serve(self, host: str, port: int) -> None:
        self._check_port_free(host, port)
        supervisor: JanusSupervisor | None = None
        if settings.JANUS.embedded:
            supervisor = JanusSupervisor(mediaserver.embedded_config())
            await supervisor.start()
            self.stdout.write(f"Janus: {supervisor.url} (pid {supervisor.pid})")
        else:
            self.stdout.write(f"Janus: {settings.JANUS.url} (external)")
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
            if supervisor is not None:
                await supervisor.stop()

    def _check_port_free(self, host: str, port: int) -> None:
        """Fail before starting Janus if the web port is taken (another `serve` running?)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise CommandError(
                    _(
                        "Port %(port)d is already in use (%(err)s): Điểm Cầu or another program "
                        "is running there. Stop it, or start with --port."
                    )
                    % {"port": port, "err": exc.strerror}
                ) from exc

    async def _announce(self, server: uvicorn.Server, host: str, port: int) -> None:
        """Say where to go only once the web app really listens."""
        while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
            await asyncio.sleep(0.1)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        self.stdout.write(
            self.style.SUCCESS(
                _("Điểm Cầu is running: open http://%(host)s:%(port)d/")
                % {"host": shown, "port": port}
            )
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
