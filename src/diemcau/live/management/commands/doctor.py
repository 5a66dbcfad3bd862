"""`diemcau doctor`: check what a running installation needs, and say what to fix."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from diemcau import config
from diemcau.front import certs
from diemcau.live import rooms
from diemcau.media.client import probe_info

Check = Callable[[], str]


class Problem(Exception):
    """A failed check; the message says what to do."""


class Command(BaseCommand):
    help = "Check Janus, ports, secrets and the database, and say what to fix."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=settings.FRONT.app_port, help="the web app's port"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checks: list[tuple[str, Check]] = [
            ("data folder", self.check_data_dir),
            ("secrets", self.check_secrets),
            ("database", self.check_database),
            ("janus.js", self.check_janus_js),
            ("Janus program", self.check_janus_binary),
            ("media address", self.check_media_ip),
            ("Janus reachable", self.check_janus_reachable),
            ("Janus token and admin_key", self.check_janus_auth),
            (f"web port {options['port']}", lambda: self.check_port(options["port"])),
            ("HTTPS front", self.check_front),
            ("certificate", self.check_certificate),
            ("local CA", self.check_local_ca),
        ]
        failed = 0
        for name, check in checks:
            try:
                detail = check()
            except Problem as exc:
                failed += 1
                self.stdout.write(self.style.ERROR(f"✗ {name}: {exc}"))
            else:
                self.stdout.write(
                    self.style.SUCCESS(f"✓ {name}") + (f": {detail}" if detail else "")
                )
        if failed:
            self.stdout.write(self.style.ERROR(f"{failed} problem(s) found."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Everything looks right."))

    def check_data_dir(self) -> str:
        folder: Path = settings.DATA_DIR
        if not os.access(folder, os.W_OK):
            raise Problem(f"{folder} is not writable; fix its owner or set DIEMCAU_DATA_DIR")
        free = shutil.disk_usage(folder).free // 2**20
        if free < 500:
            raise Problem(f"only {free} MB free under {folder}; free some space")
        return f"{folder} ({free} MB free)"

    def check_secrets(self) -> str:
        path = settings.DATA_DIR / "secrets.json"
        try:
            config.load_secrets(settings.DATA_DIR)
        except config.ConfigError as exc:
            raise Problem(str(exc)) from exc
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise Problem(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
        return f"{path} (mode 600)"

    def check_database(self) -> str:
        try:
            connection.ensure_connection()
        except Exception as exc:
            raise Problem(f"cannot connect ({exc}); check DATABASE_URL") from exc
        plan = MigrationExecutor(connection).migration_plan(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
        if plan:
            raise Problem(f"{len(plan)} migration(s) not applied; run: diemcau migrate")
        return f"{connection.vendor}, migrations applied"

    def check_janus_js(self) -> str:
        path = Path("/usr/share/javascript/janus-gateway/janus.js")
        if not path.exists():
            raise Problem("not found; run: apt-get install libjs-janus-gateway")
        return str(path)

    def check_janus_binary(self) -> str:
        if not settings.JANUS.embedded:
            return f"external Janus at {settings.JANUS.url}"
        if shutil.which("janus") is None:
            raise Problem("the janus program is not installed; run: apt-get install janus")
        return shutil.which("janus") or ""

    def check_media_ip(self) -> str:
        ip = config.primary_ip()
        if ip.startswith("127."):
            raise Problem(
                "no non-loopback IPv4 address found; Janus cannot offer 127.0.0.1 to browsers. "
                "Connect a network or set DIEMCAU_MEDIA_IP"
            )
        return ip

    def check_janus_reachable(self) -> str:
        try:
            info = asyncio.run(probe_info(settings.JANUS.url, timeout=3.0))
        except Exception as exc:
            hint = (
                "start it with `diemcau serve`"
                if settings.JANUS.embedded
                else "check DIEMCAU_JANUS_URL"
            )
            raise Problem(f"{settings.JANUS.url} does not answer ({exc}); {hint}") from exc
        plugins = info.get("plugins", {})
        if "janus.plugin.videoroom" not in plugins:
            raise Problem("Janus answers but has no VideoRoom plugin; install janus from Debian")
        return f"{settings.JANUS.url}, Janus {info.get('version_string', '?')}"

    def check_janus_auth(self) -> str:
        try:
            rooms.room_exists(1)
        except rooms.MediaUnavailable as exc:
            raise Problem(
                f"{exc}; the token secret or admin_key differ from Janus's config — restart "
                "`diemcau serve` to regenerate it, or set DIEMCAU_JANUS_TOKEN_SECRET and "
                "DIEMCAU_VIDEOROOM_ADMIN_KEY for an external Janus"
            ) from exc
        return "accepted"

    def check_port(self, port: int) -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            in_use = sock.connect_ex(("127.0.0.1", port)) == 0
        return "in use (the web app is running, or another program holds it)" if in_use else "free"

    def check_front(self) -> str:
        front = settings.FRONT
        if front.mode == "none":
            raise Problem(
                "DIEMCAU_FRONT=none: plain HTTP on loopback, for tests only; browsers on other "
                "PCs get no camera or microphone. Unset DIEMCAU_FRONT"
            )
        if front.mode == "external":
            return "DIEMCAU_FRONT=external: a front you run proxies to this app and /janus"
        closed = []
        for port, setting in (
            (front.https_port, "DIEMCAU_HTTPS_PORT"),
            (front.http_port, "DIEMCAU_HTTP_PORT"),
        ):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                if sock.connect_ex(("127.0.0.1", port)) != 0:
                    closed.append(f"{port} ({setting})")
        if closed:
            raise Problem(
                f"nothing listens on {', '.join(closed)}; start `diemcau serve`, and open "
                "those TCP ports in the firewall"
            )
        return f"{front.origin()}/ (mode {front.mode}; also {', '.join(front.names[1:])})"

    def check_certificate(self) -> str:
        front = settings.FRONT
        if front.mode in ("external", "none"):
            return "managed by your front"
        context = ssl.create_default_context()
        if front.mode == "internal":
            if not front.ca_root.is_file():
                raise Problem("the local CA has not been created yet; start `diemcau serve`")
            context = ssl.create_default_context(cafile=str(front.ca_root))
        name = front.address
        try:
            with socket.create_connection((name, front.https_port), timeout=3) as raw:
                with context.wrap_socket(raw, server_hostname=name) as tls:
                    cert = tls.getpeercert() or {}
        except (OSError, ssl.SSLError) as exc:
            hint = {
                "acme": "check that DIEMCAU_DOMAIN resolves to this server and ports 80/443 "
                "are reachable from the internet (ACME needs them)",
                "own": "check DIEMCAU_TLS_CERT (full chain) and DIEMCAU_TLS_KEY",
                "internal": "restart `diemcau serve`; see the data folder's caddy/caddy.log",
            }[front.mode]
            raise Problem(f"HTTPS for {name} fails ({exc}); {hint}") from exc
        sans = [str(entry[1]) for entry in cert.get("subjectAltName", ())]
        expires = cert.get("notAfter", "?")
        return f"{name}: valid for {', '.join(map(str, sans))}; expires {expires}"

    def check_local_ca(self) -> str:
        front = settings.FRONT
        if front.mode != "internal":
            return f"not used (mode {front.mode})"
        root = certs.load_root(front.ca_root)
        if root is None:
            raise Problem("no root certificate yet; start `diemcau serve`")
        return f"install from {front.ca_url} · SHA-256 {root.sha256}"
