"""The one place that reads the environment and the data folder.

Every setting comes from an environment variable or from `secrets.json` in the data folder.
Secrets are generated on first run (never committed, never a sample value); a secret that
is missing or looks like a placeholder stops start-up with a message saying what to do.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SECRET_NAMES = (
    "django_secret_key",
    # Janus core: the admin API stays disabled, but its secret is set so that turning it on
    # by mistake still does not open it.
    "janus_admin_secret",
    # Janus core: HMAC secret for signed, expiring tokens (token_auth_secret).
    "janus_token_auth_secret",
    # VideoRoom plugin: required on every create/destroy/list request (admin_key).
    "videoroom_admin_key",
    # coturn: HMAC secret of the ephemeral TURN credentials (static-auth-secret).
    "turn_auth_secret",
)

PLACEHOLDERS = {"", "changeme", "secret", "janusoverlord", "supersecret", "CHANGE_ME"}


class ConfigError(RuntimeError):
    """Start-up cannot go on; the message says what to fix."""


# --- reading the environment -------------------------------------------------------------
#
# Every environment variable is read in this module (docs: README.md's table), each through
# a typed reader that refuses a bad value at start with the variable's name, the value and
# what is allowed, instead of a traceback (or a silent default) later. An empty value counts
# as unset, as in an env file's `NAME=` line.

Environ = Mapping[str, str]


def _raw(name: str, environ: Environ | None) -> str:
    return (os.environ if environ is None else environ).get(name, "").strip()


def env_str(name: str, default: str = "", *, environ: Environ | None = None) -> str:
    return _raw(name, environ) or default


def env_int(name: str, default: int, *, min: int, max: int, environ: Environ | None = None) -> int:
    """A whole number from `min` to `max` (inclusive)."""
    raw = _raw(name, environ)
    if not raw:
        return default
    allowed = f"{name} must be a whole number from {min} to {max}"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{allowed} (got {raw!r})") from None
    if not min <= value <= max:
        raise ConfigError(f"{allowed} (got {raw!r})")
    return value


def env_bool(name: str, *, environ: Environ | None = None) -> bool:
    """On with "1"; off with "0", empty or unset. Nothing else ("true", "yes") is taken, so
    a typo cannot quietly mean off."""
    raw = _raw(name, environ)
    if raw not in ("", "0", "1"):
        raise ConfigError(f"{name} must be 1 (on), 0 or empty (off) (got {raw!r})")
    return raw == "1"


def env_list(name: str, *, environ: Environ | None = None) -> tuple[str, ...]:
    """Comma-separated items, spaces around each dropped, empty items skipped."""
    return tuple(item.strip() for item in _raw(name, environ).split(",") if item.strip())


def env_choice(
    name: str, default: str, choices: tuple[str, ...], *, environ: Environ | None = None
) -> str:
    """One of `choices`, in any letter case (given back as spelled in `choices`)."""
    raw = _raw(name, environ)
    if not raw:
        return default
    for choice in choices:
        if raw.casefold() == choice.casefold():
            return choice
    raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {raw!r})")


def env_url(
    name: str, schemes: tuple[str, ...], default: str = "", *, environ: Environ | None = None
) -> str:
    """A URL whose scheme is one of `schemes` (`default` when unset)."""
    raw = _raw(name, environ)
    if not raw:
        return default
    scheme, sep, _rest = raw.partition("://")
    if not sep or scheme.lower() not in schemes:
        allowed = ", ".join(f"{s}://..." for s in schemes)
        # The value may hold a password: name only its scheme.
        shown = f"{scheme}://..." if sep else "no scheme://"
        raise ConfigError(f"{name} must be a URL starting with {allowed} (got {shown})")
    return raw


@dataclass(frozen=True)
class PortRange:
    """A range of UDP ports, both ends included ("20000-40000")."""

    min: int
    max: int

    @property
    def text(self) -> str:
        return f"{self.min}-{self.max}"


def env_port_range(name: str, default: str, *, environ: Environ | None = None) -> PortRange:
    """Two port numbers "LOW-HIGH", 1024 <= LOW <= HIGH <= 65535."""
    raw = _raw(name, environ) or default
    low, sep, high = raw.partition("-")
    try:
        ports = PortRange(int(low), int(high)) if sep else None
    except ValueError:
        ports = None
    if ports is None or not 1024 <= ports.min <= ports.max <= 65535:
        raise ConfigError(
            f"{name} must be a port range LOW-HIGH such as {default}, "
            f"with 1024 <= LOW <= HIGH <= 65535 (got {raw!r})"
        )
    return ports


def rtp_ports(environ: Environ | None = None) -> PortRange:
    """Janus's RTP/RTCP ports (open them in the firewall; docs/deploy.md)."""
    return env_port_range("DIEMCAU_RTP_PORTS", "20000-40000", environ=environ)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql", "pgsql")
REDIS_SCHEMES = ("redis", "rediss", "unix")
HOUR = 3600
DAY = 24 * HOUR
MIB = 1024 * 1024


@dataclass(frozen=True)
class AppSettings:
    """The environment's part of `diemcau.settings` (Django's names are given there)."""

    debug: bool
    # None: not set, the front's names are used; set (even empty): exactly these.
    allowed_hosts: tuple[str, ...] | None
    csrf_trusted_origins: tuple[str, ...]
    database_url: str  # "" for SQLite in the data folder
    redis_url: str  # "" for the in-memory channel layer (one process)
    login_max_failures: int
    login_lockout_seconds: int
    hsts_seconds: int
    document_max_bytes: int
    allow_multiple_main_sites: bool
    join_link_grace_seconds: int
    janus_token_ttl_seconds: int
    janus_room_bitrate: int
    log_level: str
    rtp_ports: PortRange


def app_settings(environ: Environ | None = None) -> AppSettings:
    """Read and check every setting `diemcau.settings` takes from the environment."""
    env = os.environ if environ is None else environ
    return AppSettings(
        debug=env_bool("DIEMCAU_DEBUG", environ=env),
        allowed_hosts=(
            env_list("DIEMCAU_ALLOWED_HOSTS", environ=env)
            if "DIEMCAU_ALLOWED_HOSTS" in env
            else None
        ),
        csrf_trusted_origins=env_list("DIEMCAU_CSRF_TRUSTED_ORIGINS", environ=env),
        database_url=env_url("DATABASE_URL", DATABASE_SCHEMES, environ=env),
        redis_url=env_url("REDIS_URL", REDIS_SCHEMES, environ=env),
        login_max_failures=env_int("DIEMCAU_LOGIN_MAX_FAILURES", 5, min=1, max=1000, environ=env),
        login_lockout_seconds=env_int(
            "DIEMCAU_LOGIN_LOCKOUT_SECONDS", 15 * 60, min=60, max=DAY, environ=env
        ),
        # 0 turns HSTS off; at most two years (what browsers' preload lists ask for).
        hsts_seconds=env_int("DIEMCAU_HSTS_SECONDS", 365 * DAY, min=0, max=730 * DAY, environ=env),
        document_max_bytes=env_int(
            "DIEMCAU_DOCUMENT_MAX_BYTES", 25 * MIB, min=1024, max=1024 * MIB, environ=env
        ),
        allow_multiple_main_sites=env_bool("DIEMCAU_ALLOW_MULTIPLE_MAIN_SITES", environ=env),
        join_link_grace_seconds=env_int(
            "DIEMCAU_JOIN_LINK_GRACE_SECONDS", 6 * HOUR, min=0, max=7 * DAY, environ=env
        ),
        janus_token_ttl_seconds=env_int(
            "DIEMCAU_JANUS_TOKEN_TTL_SECONDS", 4 * HOUR, min=60, max=7 * DAY, environ=env
        ),
        janus_room_bitrate=env_int(
            "DIEMCAU_JANUS_ROOM_BITRATE", 1536000, min=64000, max=100_000_000, environ=env
        ),
        log_level=env_choice("DIEMCAU_LOG", "INFO", LOG_LEVELS, environ=env),
        rtp_ports=rtp_ports(env),
    )


def data_dir() -> Path:
    """The data folder: database, generated Janus config, uploads, secrets — this user's
    only (0700), a folder made earlier with a looser mode included."""
    path = Path(os.environ.get("DIEMCAU_DATA_DIR", "var")).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    restrict(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` (a SQLite database), made if missing, readable by this user only (0600).

    SQLite gives the -wal, -shm and -journal files it makes the database's own mode, so
    they follow; those left from before are tightened too.
    """
    if not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for each in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if each.exists():
            restrict(each, 0o600)
    return path


def restrict(path: Path, mode: int) -> None:
    """Take away from `path` every permission `mode` does not give (never adds one).

    Left as it is when this user may not change it (someone else's): start-up goes on, and
    the owner's next start tightens it."""
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        try:
            path.chmod(current & mode)
        except PermissionError:
            pass


def load_secrets(folder: Path | None = None) -> dict[str, str]:
    """Read `secrets.json`, generating any secret that is missing (file mode 0600)."""
    folder = folder or data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "secrets.json"
    values: dict[str, str] = {}
    if path.exists():
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc
    changed = False
    for name in SECRET_NAMES:
        if not values.get(name):
            values[name] = secrets.token_urlsafe(48)
            changed = True
        if values[name] in PLACEHOLDERS or len(values[name]) < 32:
            raise ConfigError(
                f"secret {name!r} in {path} is a placeholder or shorter than 32 characters; "
                "delete that line and restart to generate a new one"
            )
    if changed:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(values, fh, indent=2)
        tmp.replace(path)
    return values


def primary_ip() -> str:
    """The machine's first non-loopback IPv4 address.

    Janus does not offer 127.0.0.1 as an ICE candidate, so media must use a real interface.
    No packet is sent: connecting a UDP socket only asks the kernel for a route.
    """
    override = os.environ.get("DIEMCAU_MEDIA_IP")
    if override:
        return override
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: a route lookup only
            address = str(sock.getsockname()[0])
        except OSError:
            address = "127.0.0.1"
    return address


@dataclass(frozen=True)
class JanusSettings:
    """Where the web app finds Janus, and the secrets it uses with it."""

    url: str
    admin_key: str
    token_auth_secret: str
    admin_secret: str
    embedded: bool
    public_url: str


def janus_settings(values: dict[str, str]) -> JanusSettings:
    url = os.environ.get("DIEMCAU_JANUS_URL", "")
    embedded = not url
    if embedded:
        # On loopback: browsers reach it through the HTTPS front at /janus (docs/deploy.md).
        port = _port("DIEMCAU_JANUS_WS_PORT", 8188)
        url = f"ws://127.0.0.1:{port}"
    return JanusSettings(
        url=url,
        admin_key=os.environ.get("DIEMCAU_VIDEOROOM_ADMIN_KEY", values["videoroom_admin_key"]),
        token_auth_secret=os.environ.get(
            "DIEMCAU_JANUS_TOKEN_SECRET", values["janus_token_auth_secret"]
        ),
        admin_secret=values["janus_admin_secret"],
        embedded=embedded,
        # What browsers connect to: a path is taken on the page's own origin (wss://<host>/janus).
        public_url=os.environ.get(
            "DIEMCAU_JANUS_PUBLIC_URL",
            "/janus" if embedded and os.environ.get("DIEMCAU_FRONT") != "none" else url,
        ),
    )


# --- the HTTPS front (Caddy) ------------------------------------------------------------

FRONT_MODES = ("internal", "acme", "own", "external", "none")


@dataclass(frozen=True)
class FrontSettings:
    """How browsers reach the server: Caddy's HTTPS in front of the app and Janus.

    `mode` follows from the environment (docs/deploy.md):
      * ``acme``: ``DIEMCAU_DOMAIN`` is a public name; Caddy gets a certificate by ACME;
      * ``own``: ``DIEMCAU_TLS_CERT``/``DIEMCAU_TLS_KEY`` are the organisation's certificate;
      * ``internal``: neither: Caddy's own local CA signs a certificate for every address and
        name of this server (the root is offered at ``/ca/``);
      * ``external``: ``DIEMCAU_FRONT=external``: a front the organisation runs itself (its
        own reverse proxy); ``serve`` then starts no Caddy;
      * ``none``: ``DIEMCAU_FRONT=none``: no HTTPS at all, the app and Janus reached directly
        on loopback — for tests and benchmarks on one machine only (browsers on other hosts
        get no camera or microphone over plain HTTP).
    """

    mode: str
    names: tuple[str, ...]  # host names and IP addresses the server answers to, first = shown
    https_port: int
    http_port: int
    app_port: int  # uvicorn, on loopback only
    folder: Path  # generated Caddyfile, Caddy's storage (certificates, the local CA)
    domain: str = ""
    tls_cert: str = ""
    tls_key: str = ""

    @property
    def trusted_proxies(self) -> tuple[str, ...]:
        """The peers whose X-Forwarded-For/-Proto the app believes: the front on loopback.

        Our Caddy (and an external front, which must reach the app on loopback too) connects
        from here and puts the address it saw last in X-Forwarded-For; with no front nobody
        sets it, so nobody is believed. Anyone else's header is theirs to forge.
        """
        return () if self.mode == "none" else ("127.0.0.1", "::1")

    @property
    def address(self) -> str:
        """The address people are told to open (the domain, else the first address)."""
        return self.domain or self.names[0]

    def origin(self, name: str | None = None) -> str:
        host = name or self.address
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        return f"https://{host}" + ("" if self.https_port == 443 else f":{self.https_port}")

    def http_origin(self, name: str | None = None) -> str:
        host = name or self.address
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}" + ("" if self.http_port == 80 else f":{self.http_port}")

    @property
    def ca_url(self) -> str:
        """The public page with the local CA: plain HTTP, so a browser that does not trust
        the CA yet can open it without a certificate warning."""
        return self.http_origin() + "/ca/"

    @property
    def storage(self) -> Path:
        return self.folder / "storage"

    @property
    def ca_root(self) -> Path:
        """Caddy's local CA root certificate (written by Caddy on its first start)."""
        return self.storage / "pki" / "authorities" / "local" / "root.crt"


def _port(name: str, default: int) -> int:
    return env_int(name, default, min=1, max=65535)


def server_addresses() -> list[str]:
    """Every non-loopback IPv4/IPv6 (global) address of this machine, primary first."""
    found: list[str] = []
    ip_tool = shutil.which("ip")
    if ip_tool:
        try:
            out = subprocess.run(  # noqa: S603 - fixed arguments
                [ip_tool, "-json", "addr", "show"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout
            for link in json.loads(out):
                for info in link.get("addr_info", []):
                    address = ipaddress.ip_address(info.get("local", "0.0.0.0"))  # noqa: S104
                    if address.is_loopback or address.is_link_local or address.is_unspecified:
                        continue
                    found.append(str(address))
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    primary = primary_ip()
    ordered = [primary] if primary != "127.0.0.1" else []
    ordered += [a for a in found if a not in ordered]
    return ordered


def front_settings(app_port: int | None = None) -> FrontSettings:
    domain = os.environ.get("DIEMCAU_DOMAIN", "").strip().lower().rstrip(".")
    cert = os.environ.get("DIEMCAU_TLS_CERT", "").strip()
    key = os.environ.get("DIEMCAU_TLS_KEY", "").strip()
    if bool(cert) != bool(key):
        raise ConfigError(
            "DIEMCAU_TLS_CERT and DIEMCAU_TLS_KEY go together: set both (the certificate "
            "chain and its private key, PEM files) or neither"
        )
    for name, path in (("DIEMCAU_TLS_CERT", cert), ("DIEMCAU_TLS_KEY", key)):
        if path and not Path(path).is_file():
            raise ConfigError(f"{name}={path!r}: no such file")
    front = os.environ.get("DIEMCAU_FRONT", "").strip().lower()
    if front not in ("", "embedded", "external", "none"):
        raise ConfigError(f"DIEMCAU_FRONT must be 'embedded', 'external' or 'none' (got {front!r})")
    if front in ("external", "none"):
        mode = front
    elif cert:
        mode = "own"
    elif domain:
        mode = "acme"
    else:
        mode = "internal"
    extra = [h.strip().lower() for h in os.environ.get("DIEMCAU_HOSTS", "").split(",") if h.strip()]
    names: list[str] = []
    # Behind 1:1 NAT the public address is the one sites use: it goes on the certificate.
    for name in [domain, public_ip(), *extra, *server_addresses(), socket.gethostname().lower()]:
        if name and name not in names:
            names.append(name)
    # The server's own loopback names: `doctor` and a browser on the server itself.
    for name in ("localhost", "127.0.0.1"):
        if name not in names:
            names.append(name)
    return FrontSettings(
        mode=mode,
        names=tuple(names),
        https_port=_port("DIEMCAU_HTTPS_PORT", 443),
        http_port=_port("DIEMCAU_HTTP_PORT", 80),
        app_port=app_port or _port("DIEMCAU_APP_PORT", 8000),
        folder=data_dir() / "caddy",
        domain=domain,
        tls_cert=cert,
        tls_key=key,
    )


# --- TURN (coturn) ----------------------------------------------------------------------

TURN_MODES = ("embedded", "external", "off")


@dataclass(frozen=True)
class TurnSettings:
    """The TURN relay for sites whose network blocks UDP or lets only HTTPS out.

    `mode` (``DIEMCAU_TURN``, docs/deploy.md):
      * ``embedded`` (default): ``serve`` runs coturn with a config it generates;
      * ``external``: a coturn someone else runs, sharing ``DIEMCAU_TURN_SECRET``, reached
        at ``DIEMCAU_TURN_HOST``;
      * ``off``: no TURN (a site behind a UDP-blocking firewall then gets no media).
    """

    mode: str
    secret: str
    port: int  # TURN over UDP and TCP
    tls_port: int  # TURN over TLS (0: none)
    relay_ports: PortRange  # coturn's side towards Janus (not opened in the firewall)
    public_ip: str  # 1:1 NAT: the address sites reach this server at ("" = none)
    host: str  # external mode: where browsers reach that TURN server
    max_bps: int  # per allocation, bytes per second each way
    user_quota: int  # allocations at once per credential
    total_quota: int  # allocations at once in all
    # How long a credential may last at most, from when it is handed out.
    max_ttl_seconds: int = 12 * HOUR

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def public_ip(environ: Environ | None = None) -> str:
    """``DIEMCAU_PUBLIC_IP``: the address a 1:1 NAT maps to this server (cloud servers)."""
    raw = env_str("DIEMCAU_PUBLIC_IP", environ=environ)
    if not raw:
        return ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise ConfigError(
            f"DIEMCAU_PUBLIC_IP must be an IP address such as 203.0.113.7 (got {raw!r})"
        ) from None
    if address.is_loopback or address.is_unspecified or address.is_multicast:
        raise ConfigError(f"DIEMCAU_PUBLIC_IP cannot be {raw!r}: give the server's public address")
    return str(address)


def turn_settings(values: Mapping[str, str], environ: Environ | None = None) -> TurnSettings:
    env = os.environ if environ is None else environ
    mode = env_choice("DIEMCAU_TURN", "embedded", TURN_MODES, environ=env)
    secret = values["turn_auth_secret"]
    host = ""
    if mode == "external":
        secret = env_str("DIEMCAU_TURN_SECRET", environ=env)
        host = env_str("DIEMCAU_TURN_HOST", environ=env)
        if len(secret) < 32 or not host:
            raise ConfigError(
                "DIEMCAU_TURN=external needs DIEMCAU_TURN_HOST (where browsers reach that TURN "
                "server) and DIEMCAU_TURN_SECRET (its static-auth-secret, 32 characters or more)"
            )
    relay_ports = env_port_range("DIEMCAU_TURN_RELAY_PORTS", "49152-65535", environ=env)
    rtp = rtp_ports(env)
    # Only where both run on this machine (serve starts coturn): off or external, no clash.
    if mode == "embedded" and relay_ports.min <= rtp.max and rtp.min <= relay_ports.max:
        raise ConfigError(
            f"DIEMCAU_TURN_RELAY_PORTS ({relay_ports.text}) overlaps DIEMCAU_RTP_PORTS "
            f"({rtp.text}): coturn and Janus would take each other's ports; choose ranges apart"
        )
    return TurnSettings(
        mode=mode,
        secret=secret,
        port=env_int("DIEMCAU_TURN_PORT", 3478, min=1, max=65535, environ=env),
        tls_port=env_int("DIEMCAU_TURN_TLS_PORT", 5349, min=0, max=65535, environ=env),
        relay_ports=relay_ports,
        public_ip=public_ip(env),
        host=host,
        # 10 Mbit/s: a site's main source, floor and shared screen at the high layer fit.
        max_bps=env_int(
            "DIEMCAU_TURN_MAX_BPS", 1_250_000, min=16_000, max=125_000_000, environ=env
        ),
        # A page has up to 3 peer connections, each may relay over UDP, TCP and TLS.
        user_quota=env_int("DIEMCAU_TURN_USER_QUOTA", 16, min=1, max=1000, environ=env),
        total_quota=env_int("DIEMCAU_TURN_TOTAL_QUOTA", 1200, min=1, max=100_000, environ=env),
    )
