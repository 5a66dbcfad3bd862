"""`diemcau doctor`: check what a running installation needs, and say what to fix.

Each check prints one line: ✓ and what it found, or ✗ and what to change. On a real server
it also looks from the outside in: which program listens on which port and address, the
certificates browsers get for every name the front serves (and coturn's for TURN over TLS),
whether the domain resolves to this machine, and whether coturn answers an allocation with
a fresh credential (diemcau.turn.probe) and relays to Janus only. Docs: docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from diemcau import config, listening
from diemcau.config import FrontSettings, TurnSettings
from diemcau.front import certs
from diemcau.listening import Listener, Proto
from diemcau.media.client import probe_info
from diemcau.sfu import rooms
from diemcau.turn import credentials, probe, turnconfig

Check = Callable[[], str]

# Certificates renewed by someone else (Caddy's ACME, the organisation) should have this
# much left; coturn's own leaf (90 days) is re-issued by `serve` at 7 days.
RENEW_WARNING = dt.timedelta(days=14)
TURN_RENEW_WARNING = dt.timedelta(days=3)


class Problem(Exception):
    """A failed check; the message says what to do."""


# --- ports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """A port one of our programs should hold, and from where it should be reachable."""

    proto: Proto
    port: int
    what: str  # "HTTPS (Caddy)"
    setting: str  # the variable that moves it
    programs: tuple[str, ...]  # process names (ss shows at most 15 characters)
    reach: Literal["network", "loopback"]


def expected_ports(
    front: FrontSettings, turn: TurnSettings, janus_url: str, janus_embedded: bool
) -> list[Expected]:
    out: list[Expected] = []
    if front.mode in ("internal", "acme", "own"):
        caddy = ("caddy",)
        out += [
            Expected("tcp", front.https_port, "HTTPS", "DIEMCAU_HTTPS_PORT", caddy, "network"),
            Expected("tcp", front.http_port, "HTTP", "DIEMCAU_HTTP_PORT", caddy, "network"),
        ]
    if janus_embedded:
        port = urlsplit(janus_url).port or 8188
        out.append(
            Expected(
                "tcp", port, _("Janus WebSocket"), "DIEMCAU_JANUS_WS_PORT", ("janus",), "loopback"
            )
        )
    if turn.mode == "embedded":
        coturn = ("turnserver",)
        out += [
            Expected("udp", turn.port, "TURN", "DIEMCAU_TURN_PORT", coturn, "network"),
            Expected("tcp", turn.port, "TURN", "DIEMCAU_TURN_PORT", coturn, "network"),
        ]
        if turn.tls_port and front.mode not in ("external", "none"):
            out.append(
                Expected(
                    "tcp",
                    turn.tls_port,
                    _("TURN over TLS"),
                    "DIEMCAU_TURN_TLS_PORT",
                    coturn,
                    "network",
                )
            )
    return out


def _held_by(socket_: Listener, programs: Sequence[str]) -> bool:
    return any(socket_.program.startswith(name) for name in programs)


def judge_port(expected: Expected, found: Iterable[Listener]) -> str:
    """What listens on the expected port; Problem when nothing does, another program does,
    or it listens where it should not (only loopback, or the network for a loopback port)."""
    here = listening.on_port(found, expected.proto, expected.port)
    label = f"{expected.proto.upper()} {expected.port}"
    if not here:
        raise Problem(
            _(
                "nothing listens on %(port)s; start `diemcau serve` (if it runs with another "
                "port, set %(setting)s to that one)"
            )
            % {"port": label, "setting": expected.setting}
        )
    others = [s for s in here if s.program and not _held_by(s, expected.programs)]
    if others:
        raise Problem(
            _(
                "%(port)s is held by %(holder)s, not %(program)s: stop that program (if it "
                "is a system service: systemctl disable --now %(name)s), or move ours with "
                "%(setting)s"
            )
            % {
                "port": label,
                "holder": others[0].holder,
                "program": expected.programs[0],
                "name": others[0].program,
                "setting": expected.setting,
            }
        )
    where = ", ".join(sorted({s.where for s in here}))
    if expected.reach == "network" and all(s.loopback for s in here):
        raise Problem(
            _("%(what)s listens on %(where)s only: other PCs cannot reach it")
            % {"what": expected.what, "where": where}
        )
    if expected.reach == "loopback" and not all(s.loopback for s in here):
        raise Problem(
            _(
                "%(what)s listens on %(where)s: reachable from the network without HTTPS. It "
                "belongs on 127.0.0.1 only; restart `diemcau serve`"
            )
            % {"what": expected.what, "where": where}
        )
    holders = sorted({s.holder for s in here if s.holder})
    shown = ", ".join(holders) if holders else _("(run as root to see which program)")
    return f"{shown} on {where}"


def judge_rtp_range(ports: config.PortRange, found: Iterable[Listener], media_ip: str) -> str:
    """Janus's RTP/RTCP range: no other program in it; Janus's sockets on the media address."""
    inside = [s for s in found if s.proto == "udp" and ports.min <= s.port <= ports.max]
    strangers = [s for s in inside if s.program and not _held_by(s, ("janus",))]
    if strangers:
        first = strangers[0]
        raise Problem(
            _(
                "UDP %(range)s (DIEMCAU_RTP_PORTS) is Janus's, but %(holder)s holds %(where)s "
                "in it: move that program, or choose another range with DIEMCAU_RTP_PORTS"
            )
            % {"range": ports.text, "holder": first.holder, "where": first.where}
        )
    if not inside:
        return _(
            "UDP %(range)s on %(ip)s: none open now (Janus opens them as participants join); "
            "open this range to the sites in the firewall"
        ) % {"range": ports.text, "ip": media_ip}
    addresses = ", ".join(sorted({s.address for s in inside}))
    return _("UDP %(range)s: %(count)s in use by Janus on %(addresses)s") % {
        "range": ports.text,
        "count": len(inside),
        "addresses": addresses,
    }


# --- certificates -------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerCertificate:
    names: tuple[str, ...]  # subjectAltName values
    not_after: dt.datetime  # aware, UTC


def read_peer_certificate(
    name: str, port: int, context: ssl.SSLContext, *, timeout: float = 3.0
) -> PeerCertificate:
    """Open TLS to this machine's `port` as a browser opening `name` would, and return what
    the server presented (verified against `context`'s trust and for `name`).

    An IP name is connected to as it is (a server picks the certificate for a connection
    without SNI by its local address); a DNS name through 127.0.0.1 with that name as SNI,
    so a name that resolves elsewhere (a NAT's public address) is still checked here."""
    try:
        ipaddress.ip_address(name)
        target = name
    except ValueError:
        target = "127.0.0.1"
    with (
        socket.create_connection((target, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        cert = tls.getpeercert() or {}
    names = tuple(str(entry[1]) for entry in cert.get("subjectAltName", ()))
    seconds = ssl.cert_time_to_seconds(str(cert.get("notAfter", "Jan  1 00:00:00 1970 GMT")))
    return PeerCertificate(names, dt.datetime.fromtimestamp(seconds, dt.UTC))


def _when(moment: dt.datetime, now: dt.datetime) -> str:
    left = moment - now
    shown = formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
    if left >= dt.timedelta(days=2):
        return _("%(date)s, in %(days)s days") % {"date": shown, "days": left.days}
    hours = max(int(left.total_seconds() // 3600), 0)
    return _("%(date)s, in %(hours)s hours") % {"date": shown, "hours": hours}


def trust_for(front: FrontSettings) -> ssl.SSLContext:
    """What a room PC trusts: the local CA (internal mode) or the system's store."""
    if front.mode == "internal":
        if not front.ca_root.is_file():
            raise Problem(_("the local CA has not been created yet; start `diemcau serve`"))
        return ssl.create_default_context(cafile=str(front.ca_root))
    return ssl.create_default_context()


def names_to_check(front: FrontSettings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(names that must work, names merely reported). Caddy gets the domain alone by ACME;
    an organisation's certificate need not cover the server's bare addresses."""
    if front.mode == "acme":
        return (front.domain,), ()
    if front.mode == "own":
        return (front.address,), tuple(n for n in front.names if n != front.address)
    return tuple(front.names), ()


def check_names(
    port: int,
    context: ssl.SSLContext,
    required: Sequence[str],
    optional: Sequence[str],
    *,
    warn_within: dt.timedelta,
    hint: str,
    renew_hint: str,
    now: dt.datetime | None = None,
    read: Callable[[str, int, ssl.SSLContext], PeerCertificate] = read_peer_certificate,
) -> str:
    """Connect by every name; Problem for a required name that fails or a certificate that
    expires within `warn_within`."""
    now = now or dt.datetime.now(dt.UTC)
    good: dict[str, PeerCertificate] = {}
    failed: list[str] = []
    for name in [*required, *optional]:
        try:
            good[name] = read(name, port, context)
        except (OSError, ssl.SSLError, ValueError) as exc:
            reason = getattr(exc, "verify_message", None) or str(exc) or type(exc).__name__
            if name in required:
                failed.append(f"{name} ({reason})")
    if failed:
        raise Problem(
            _("TLS on port %(port)s fails for %(names)s; %(hint)s")
            % {"port": port, "names": "; ".join(failed), "hint": hint}
        )
    soonest = min(good.values(), key=lambda c: c.not_after)
    if soonest.not_after - now < warn_within:
        raise Problem(
            _("the certificate on port %(port)s expires %(when)s; %(hint)s")
            % {"port": port, "when": _when(soonest.not_after, now), "hint": renew_hint}
        )
    detail = _("port %(port)s: valid for %(names)s; expires %(when)s") % {
        "port": port,
        "names": ", ".join(good),
        "when": _when(soonest.not_after, now),
    }
    missing = [n for n in optional if n not in good]
    if missing:
        detail += " · " + _("not covered (pages opened by these names warn): %(names)s") % {
            "names": ", ".join(missing)
        }
    return detail


# --- the domain and this machine's addresses ---------------------------------------------


def judge_domain(domain: str, resolved: Sequence[str], mine: Sequence[str], public_ip: str) -> str:
    """Whether `domain`'s addresses (as this machine resolves it) include this server."""
    shown = ", ".join(resolved)
    if set(resolved) & set(mine):
        return _("%(domain)s → %(addresses)s (this server)") % {
            "domain": domain,
            "addresses": shown,
        }
    if public_ip and public_ip in resolved:
        return _("%(domain)s → %(addresses)s (DIEMCAU_PUBLIC_IP: 1:1 NAT to this server)") % {
            "domain": domain,
            "addresses": shown,
        }
    values = {
        "domain": domain,
        "addresses": shown,
        "mine": ", ".join(mine) or "-",
        "public": public_ip,
        "first": resolved[0] if resolved else "",
    }
    if resolved and all(ipaddress.ip_address(a).is_loopback for a in resolved):
        raise Problem(
            _(
                "%(domain)s resolves to %(addresses)s on this machine (a line in /etc/hosts?), "
                "not to one of its addresses (%(mine)s): point it at this server's address"
            )
            % values
        )
    if public_ip:
        raise Problem(
            _(
                "%(domain)s resolves to %(addresses)s, which is neither DIEMCAU_PUBLIC_IP "
                "(%(public)s) nor an address of this server (%(mine)s): fix the DNS record, "
                "or DIEMCAU_PUBLIC_IP"
            )
            % values
        )
    raise Problem(
        _(
            "%(domain)s resolves to %(addresses)s, not to this server (%(mine)s): point its "
            "DNS record at this server; if the server sits behind 1:1 NAT with that public "
            "address, set DIEMCAU_PUBLIC_IP=%(first)s"
        )
        % values
    )


# --- coturn's generated config ----------------------------------------------------------


def read_turn_config(path: Path) -> dict[str, str]:
    """turnserver.conf as written by turnconfig.render: "key=value" and bare "key" lines
    (the last one wins; a bare key maps to "")."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _sep, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def turn_tls_port(turn: TurnSettings, front: FrontSettings) -> int:
    """The TURN over TLS port `serve` opens: none without a certificate from the front
    (turn/certificate.py: modes external and none have none)."""
    return turn.tls_port if front.mode not in ("external", "none") else 0


def judge_turn_config(turn: TurnSettings, values: dict[str, str], media_ip: str) -> str:
    """The config coturn was started with, against what the settings say now (`turn`'s
    tls_port: what serve should have opened, see turn_tls_port)."""
    if values.get("listening-port") != str(turn.port):
        raise Problem(
            _(
                "coturn was started with port %(running)s but DIEMCAU_TURN_PORT is %(port)s: "
                "restart `diemcau serve`"
            )
            % {"running": values.get("listening-port", "?"), "port": turn.port}
        )
    if values.get("relay-ip") != media_ip:
        raise Problem(
            _(
                "coturn relays from %(running)s but Janus's media address is %(ip)s: restart "
                "`diemcau serve` (or set DIEMCAU_MEDIA_IP)"
            )
            % {"running": values.get("relay-ip", "?"), "ip": media_ip}
        )
    tls = values.get("tls-listening-port", "")
    if turn.tls_port and "no-tls" in values:
        raise Problem(
            _(
                "TURN over TLS is off: there was no certificate for it when `diemcau serve` "
                "started (its output says why). Restart `diemcau serve` once the front has "
                "its certificate; sites that let only TLS out get no media until then"
            )
        )
    if turn.tls_port and tls != str(turn.tls_port):
        raise Problem(
            _(
                "coturn was started with TLS port %(running)s but DIEMCAU_TURN_TLS_PORT is "
                "%(port)s: restart `diemcau serve`"
            )
            % {"running": tls or "-", "port": turn.tls_port}
        )
    parts = [_("UDP and TCP %(port)s") % {"port": turn.port}]
    if turn.tls_port:
        parts.append(_("TLS %(port)s") % {"port": turn.tls_port})
    if values.get("external-ip"):
        parts.append(_("announced as %(ip)s") % {"ip": values["external-ip"].split("/")[0]})
    return _("embedded: %(parts)s; relays to %(ip)s only") % {
        "parts": ", ".join(parts),
        "ip": media_ip,
    }


def judge_turn_probe(report: probe.ProbeReport, media_ip: str, *, external: bool) -> str:
    """An allocation with a fresh credential, a permission to Janus, none to loopback."""
    allocation = report.allocation
    if allocation.refusal is not None:
        if allocation.refusal.code == 401:
            hint = (
                _(
                    "DIEMCAU_TURN_SECRET is not that server's static-auth-secret, or its "
                    "clock is wrong"
                )
                if external
                else _(
                    "the program answering is not the coturn `diemcau serve` configured "
                    "(another coturn, e.g. the system's coturn.service, holds the port: "
                    "systemctl disable --now coturn, then restart `diemcau serve`), or this "
                    "machine's clock is wrong"
                )
            )
        else:
            hint = _("see coturn's log")
        raise Problem(
            _("%(server)s refuses an allocation with a fresh credential (%(refusal)s): %(hint)s")
            % {"server": report.server, "refusal": str(allocation.refusal), "hint": hint}
        )
    permissions = {outcome.peer[0]: outcome for outcome in report.permissions}
    loopback = permissions.get("127.0.0.1")
    if loopback is not None and loopback.granted:
        raise Problem(
            _(
                "%(server)s would relay to 127.0.0.1: it does not run the config `diemcau "
                "serve` writes (which denies it). Stop any other coturn and restart `diemcau "
                "serve`"
            )
            % {"server": report.server}
        )
    janus = permissions.get(media_ip)
    if janus is not None and not janus.granted:
        raise Problem(
            _(
                "%(server)s refuses to relay to Janus's media address %(ip)s (%(refusal)s): "
                "restart `diemcau serve` so coturn's allowed peer is the media address"
            )
            % {"server": report.server, "ip": media_ip, "refusal": str(janus.refusal)}
        )
    relayed = probe.format_peer(allocation.relayed) if allocation.relayed else "?"
    return _("%(server)s allocates (relayed at %(relayed)s), relays to Janus at %(ip)s") % {
        "server": report.server,
        "relayed": relayed,
        "ip": media_ip,
    } + ("" if loopback is None else _(", refuses 127.0.0.1"))


# --- the command --------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Check Janus, ports, secrets, certificates, TURN and the database, and say what to fix."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port", type=int, default=settings.FRONT.app_port, help="the web app's port"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.found = listening.listeners()
        front, turn = settings.FRONT, settings.TURN
        ports = expected_ports(front, turn, settings.JANUS.url, settings.JANUS.embedded)
        checks: list[tuple[str, Check]] = [
            (_("data folder"), self.check_data_dir),
            (_("secrets"), self.check_secrets),
            (_("database"), self.check_database),
            ("janus.js", self.check_janus_js),
            (_("Janus program"), self.check_janus_binary),
            (_("media address"), self.check_media_ip),
            (_("Janus reachable"), self.check_janus_reachable),
            (_("Janus token and admin_key"), self.check_janus_auth),
            (
                _("web port %(port)s") % {"port": options["port"]},
                lambda: self.check_port(options["port"]),
            ),
            *(
                (
                    _("%(what)s port %(proto)s %(port)s")
                    % {"what": e.what, "proto": e.proto.upper(), "port": e.port},
                    lambda e=e: judge_port(e, self.found),
                )
                for e in ports
            ),
            (_("Janus media ports"), self.check_rtp_ports),
            (_("HTTPS front"), self.check_front),
            (_("certificate"), self.check_certificate),
            (_("local CA"), self.check_local_ca),
            (_("domain"), self.check_domain),
            (_("public address"), self.check_public_ip),
            ("TURN", self.check_turn_config),
            (_("TURN over UDP"), lambda: self.check_turn("udp")),
            (_("TURN over TLS"), lambda: self.check_turn("tls")),
            (_("TURN certificate"), self.check_turn_certificate),
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
            self.stdout.write(
                self.style.ERROR(_("%(count)s problem(s) found.") % {"count": failed})
            )
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(_("Everything looks right.")))

    def check_data_dir(self) -> str:
        folder: Path = settings.DATA_DIR
        if not os.access(folder, os.W_OK):
            raise Problem(
                _("%(folder)s is not writable; fix its owner or set DIEMCAU_DATA_DIR")
                % {"folder": folder}
            )
        free = shutil.disk_usage(folder).free // 2**20
        if free < 500:
            raise Problem(
                _("only %(free)s MB free under %(folder)s; free some space")
                % {"free": free, "folder": folder}
            )
        return _("%(folder)s (%(free)s MB free)") % {"folder": folder, "free": free}

    def check_secrets(self) -> str:
        path = settings.DATA_DIR / "secrets.json"
        try:
            config.load_secrets(settings.DATA_DIR)
        except config.ConfigError as exc:
            raise Problem(str(exc)) from exc
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise Problem(
                _("%(path)s is readable by others (mode %(mode)s); run: chmod 600 %(path)s")
                % {"path": path, "mode": f"{mode:o}"}
            )
        return _("%(path)s (mode 600)") % {"path": path}

    def check_database(self) -> str:
        try:
            connection.ensure_connection()
        except Exception as exc:
            raise Problem(_("cannot connect (%(err)s); check DATABASE_URL") % {"err": exc}) from exc
        plan = MigrationExecutor(connection).migration_plan(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
        if plan:
            raise Problem(
                _("%(count)s migration(s) not applied; run: diemcau migrate") % {"count": len(plan)}
            )
        return _("%(vendor)s, migrations applied") % {"vendor": connection.vendor}

    def check_janus_js(self) -> str:
        path = Path("/usr/share/javascript/janus-gateway/janus.js")
        if not path.exists():
            raise Problem(_("not found; run: apt-get install libjs-janus-gateway"))
        return str(path)

    def check_janus_binary(self) -> str:
        if not settings.JANUS.embedded:
            return _("external Janus at %(url)s") % {"url": settings.JANUS.url}
        if shutil.which("janus") is None:
            raise Problem(_("the janus program is not installed; run: apt-get install janus"))
        return shutil.which("janus") or ""

    def check_media_ip(self) -> str:
        ip = config.primary_ip()
        if ip.startswith("127."):
            raise Problem(
                _(
                    "no non-loopback IPv4 address found; Janus cannot offer 127.0.0.1 to "
                    "browsers. Connect a network or set DIEMCAU_MEDIA_IP"
                )
            )
        return ip

    def check_janus_reachable(self) -> str:
        try:
            info = asyncio.run(probe_info(settings.JANUS.url, timeout=3.0))
        except Exception as exc:
            hint = (
                _("start it with `diemcau serve`")
                if settings.JANUS.embedded
                else _("check DIEMCAU_JANUS_URL")
            )
            raise Problem(
                _("%(url)s does not answer (%(err)s); %(hint)s")
                % {"url": settings.JANUS.url, "err": exc, "hint": hint}
            ) from exc
        plugins = info.get("plugins", {})
        if "janus.plugin.videoroom" not in plugins:
            raise Problem(_("Janus answers but has no VideoRoom plugin; install janus from Debian"))
        return f"{settings.JANUS.url}, Janus {info.get('version_string', '?')}"

    def check_janus_auth(self) -> str:
        try:
            rooms.room_exists(1)
        except rooms.MediaUnavailable as exc:
            raise Problem(
                _(
                    "%(err)s; the token secret or admin_key differ from Janus's config — "
                    "restart `diemcau serve` to regenerate it, or set "
                    "DIEMCAU_JANUS_TOKEN_SECRET and DIEMCAU_VIDEOROOM_ADMIN_KEY for an "
                    "external Janus"
                )
                % {"err": exc}
            ) from exc
        return _("accepted")

    def check_port(self, port: int) -> str:
        here = listening.on_port(self.found, "tcp", port)
        if not here:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                if sock.connect_ex(("127.0.0.1", port)) != 0:
                    return _("free")
        exposed = [s for s in here if not s.loopback]
        if exposed and settings.FRONT.mode != "external":
            raise Problem(
                _(
                    "the web app's port listens on %(where)s: reachable from the network "
                    "without HTTPS. `diemcau serve` binds it to 127.0.0.1; stop whatever "
                    "holds it (%(holder)s)"
                )
                % {"where": exposed[0].where, "holder": exposed[0].holder or "?"}
            )
        holders = ", ".join(sorted({s.holder for s in here if s.holder}))
        return _("in use (the web app is running, or another program holds it)") + (
            f": {holders}" if holders else ""
        )

    def check_rtp_ports(self) -> str:
        if not settings.JANUS.embedded:
            return _("external Janus: check its own ports")
        return judge_rtp_range(config.rtp_ports(), self.found, config.primary_ip())

    def check_front(self) -> str:
        front = settings.FRONT
        if front.mode == "none":
            raise Problem(
                _(
                    "DIEMCAU_FRONT=none: plain HTTP on loopback, for tests only; browsers on "
                    "other PCs get no camera or microphone. Unset DIEMCAU_FRONT"
                )
            )
        if front.mode == "external":
            return _("DIEMCAU_FRONT=external: a front you run proxies to this app and /janus")
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
                _(
                    "nothing listens on %(ports)s; start `diemcau serve`, and open those TCP "
                    "ports in the firewall"
                )
                % {"ports": ", ".join(closed)}
            )
        return _("%(origin)s/ (mode %(mode)s; also %(names)s)") % {
            "origin": front.origin(),
            "mode": front.mode,
            "names": ", ".join(front.names[1:]),
        }

    def check_certificate(self) -> str:
        front = settings.FRONT
        if front.mode in ("external", "none"):
            return _("managed by your front")
        hint = {
            "acme": _(
                "check that DIEMCAU_DOMAIN resolves to this server and ports 80/443 are "
                "reachable from the internet (ACME needs them); see caddy/caddy.log"
            ),
            "own": _("check DIEMCAU_TLS_CERT (full chain) and DIEMCAU_TLS_KEY"),
            "internal": _("restart `diemcau serve`; see the data folder's caddy/caddy.log"),
        }[front.mode]
        renew = {
            "acme": _("Caddy has not renewed it: see caddy/caddy.log"),
            "own": _("put a renewed certificate in DIEMCAU_TLS_CERT and restart"),
            "internal": _("Caddy renews it itself; restart `diemcau serve` if it does not"),
        }[front.mode]
        required, optional = names_to_check(front)
        return check_names(
            front.https_port,
            trust_for(front),
            required,
            optional,
            warn_within=RENEW_WARNING if front.mode != "internal" else dt.timedelta(hours=1),
            hint=hint,
            renew_hint=renew,
        )

    def check_local_ca(self) -> str:
        front = settings.FRONT
        if front.mode != "internal":
            return _("not used (mode %(mode)s)") % {"mode": front.mode}
        root = certs.load_root(front.ca_root)
        if root is None:
            raise Problem(_("no root certificate yet; start `diemcau serve`"))
        return _("install from %(url)s · SHA-256 %(fingerprint)s") % {
            "url": front.ca_url,
            "fingerprint": root.sha256,
        }

    def check_domain(self) -> str:
        front = settings.FRONT
        if not front.domain:
            return _(
                "DIEMCAU_DOMAIN not set: people open %(origin)s (with the local CA). Set it to "
                "a DNS name of this server for a certificate every browser trusts"
            ) % {"origin": front.origin()}
        try:
            infos = socket.getaddrinfo(front.domain, None, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise Problem(
                _(
                    "%(domain)s does not resolve (%(err)s): create its DNS A record with this "
                    "server's public address"
                )
                % {"domain": front.domain, "err": exc.strerror or exc}
            ) from exc
        resolved = sorted({str(info[4][0]) for info in infos})
        return judge_domain(front.domain, resolved, config.server_addresses(), config.public_ip())

    def check_public_ip(self) -> str:
        public = config.public_ip()
        mine = config.server_addresses()
        if not public:
            private = all(ipaddress.ip_address(a).is_private for a in mine)
            if mine and private:
                return _(
                    "not set; this server has private addresses only (%(mine)s): sites on "
                    "the internet reach it only through a 1:1 NAT — then set "
                    "DIEMCAU_PUBLIC_IP to the public address"
                ) % {"mine": ", ".join(mine)}
            return _("not set (this server's own addresses are used: %(mine)s)") % {
                "mine": ", ".join(mine) or "-"
            }
        if public in mine:
            return _("%(ip)s is an address of this machine itself (no NAT needed)") % {"ip": public}
        return _("%(ip)s (1:1 NAT: Janus and TURN announce it, and it is on the certificate)") % {
            "ip": public
        }

    # --- TURN -------------------------------------------------------------------------

    def check_turn_config(self) -> str:
        turn = settings.TURN
        if turn.mode == "off":
            return _(
                "off (DIEMCAU_TURN=off): sites whose network blocks UDP get no picture or "
                "sound. Unset DIEMCAU_TURN to turn it on"
            )
        if turn.mode == "external":
            return _("external TURN server at %(host)s") % {"host": turn.host}
        path = settings.DATA_DIR / "turn" / turnconfig.CONFIG_FILE
        try:
            values = read_turn_config(path)
        except FileNotFoundError as exc:
            raise Problem(
                _("%(path)s does not exist yet: start `diemcau serve` (it runs coturn)")
                % {"path": path}
            ) from exc
        tls_port = turn_tls_port(turn, settings.FRONT)
        return judge_turn_config(
            dataclasses.replace(turn, tls_port=tls_port), values, config.primary_ip()
        )

    def check_turn(self, transport: probe.Transport) -> str:
        turn, front = settings.TURN, settings.FRONT
        if turn.mode == "off":
            return _("not used")
        port = turn.tls_port if transport == "tls" else turn.port
        if not port:
            return _("off (DIEMCAU_TURN_TLS_PORT=0)")
        if transport == "tls" and turn.mode == "embedded" and not turn_tls_port(turn, front):
            return _("off: with DIEMCAU_FRONT=%(mode)s there is no certificate for it") % {
                "mode": front.mode
            }
        media_ip = config.primary_ip()
        external = turn.mode == "external"
        host = turn.host if external else media_ip
        name = turn.host if external else front.address
        context = None
        if transport == "tls":
            context = trust_for(front) if not external else ssl.create_default_context()
        credential = credentials.issue(turn.secret, "doctor", int(time.time()) + 600)
        try:
            report = asyncio.run(
                probe.probe(
                    host,
                    port,
                    transport,
                    credential.username,
                    credential.password,
                    ssl_context=context,
                    server_hostname=name,
                    peers=[] if external else [media_ip, "127.0.0.1"],
                    timeout=3.0,
                )
            )
        except probe.ProbeError as exc:
            if external:
                hint = _("check DIEMCAU_TURN_HOST and that this port is open to it")
            else:
                hint = _("start `diemcau serve` (it runs coturn); if it runs, read %(log)s") % {
                    "log": settings.DATA_DIR / "turn" / turnconfig.LOG_FILE
                }
            raise Problem(f"{exc}; {hint}") from exc
        return judge_turn_probe(report, media_ip, external=external)

    def check_turn_certificate(self) -> str:
        turn, front = settings.TURN, settings.FRONT
        if turn.mode != "embedded" or not turn.tls_port:
            return _("not used")
        if front.mode in ("external", "none"):
            return _("no TURN over TLS without the front's certificate (mode %(mode)s)") % {
                "mode": front.mode
            }
        required, optional = names_to_check(front)
        return check_names(
            turn.tls_port,
            trust_for(front),
            required,
            optional,
            warn_within=TURN_RENEW_WARNING if front.mode == "internal" else RENEW_WARNING,
            hint=_(
                "coturn presents a certificate browsers refuse: restart `diemcau serve` "
                "(it issues or picks up coturn's certificate at start)"
            ),
            renew_hint=_("restart `diemcau serve` to give coturn a fresh certificate"),
        )
