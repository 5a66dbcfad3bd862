"""The one place that reads the environment and the data folder.

Every setting comes from an environment variable or from `secrets.json` in the data folder.
Secrets are generated on first run (never committed, never a sample value); a secret that
is missing or looks like a placeholder stops start-up with a message saying what to do.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
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
)

PLACEHOLDERS = {"", "changeme", "secret", "janusoverlord", "supersecret", "CHANGE_ME"}


class ConfigError(RuntimeError):
    """Start-up cannot go on; the message says what to fix."""


def data_dir() -> Path:
    """The data folder: database, generated Janus config, uploads, secrets."""
    path = Path(os.environ.get("DIEMCAU_DATA_DIR", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


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
        port = int(os.environ.get("DIEMCAU_JANUS_WS_PORT", "8188"))
        url = f"ws://{primary_ip()}:{port}"
    return JanusSettings(
        url=url,
        admin_key=os.environ.get("DIEMCAU_VIDEOROOM_ADMIN_KEY", values["videoroom_admin_key"]),
        token_auth_secret=os.environ.get(
            "DIEMCAU_JANUS_TOKEN_SECRET", values["janus_token_auth_secret"]
        ),
        admin_secret=values["janus_admin_secret"],
        embedded=embedded,
        # What browsers connect to; behind a proxy this is e.g. wss://example.org/janus
        public_url=os.environ.get("DIEMCAU_JANUS_PUBLIC_URL", url),
    )
