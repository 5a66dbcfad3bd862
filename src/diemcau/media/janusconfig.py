"""Render a locked-down Janus config folder.

Docs: docs/janus.md ("How the generated config locks Janus down"). Janus is then started as
``janus -F <folder> -C <folder>/janus.jcfg``. What the rendered config does, and why:

* only the VideoRoom plugin and the WebSockets transport load; every other plugin,
  transport and logger found in the system folders is listed in ``disable``, event
  handlers are off (``broadcast = false``), so nothing else listens or runs;
* the core requires signed tokens (``token_auth`` + ``token_auth_secret``), which the web
  app hands to browsers for a limited time;
* the admin API is off on every transport; ``admin_secret`` is still a fresh secret so that
  switching it on by mistake does not open it;
* VideoRoom needs ``admin_key`` to create rooms and to RTP-forward (``lock_rtp_forward``);
* ICE is bound to one non-loopback address (Janus does not offer 127.0.0.1 as a candidate),
  media uses a fixed RTP port range that a firewall can open; the WebSocket server listens
  on loopback behind the HTTPS front (or on that address when there is no front).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PLUGINS_FOLDER = Path("/usr/lib/x86_64-linux-gnu/janus/plugins")
TRANSPORTS_FOLDER = Path("/usr/lib/x86_64-linux-gnu/janus/transports")
EVENTS_FOLDER = Path("/usr/lib/x86_64-linux-gnu/janus/events")
LOGGERS_FOLDER = Path("/usr/lib/x86_64-linux-gnu/janus/loggers")

VIDEOROOM_LIBRARY = "libjanus_videoroom.so"
WEBSOCKETS_LIBRARY = "libjanus_websockets.so"
# Disabled even if the folder cannot be listed, so a missing folder never opens one of them.
KNOWN_PLUGINS = (
    "libjanus_audiobridge.so",
    "libjanus_duktape.so",
    "libjanus_echotest.so",
    "libjanus_lua.so",
    "libjanus_nosip.so",
    "libjanus_recordplay.so",
    "libjanus_sip.so",
    "libjanus_streaming.so",
    "libjanus_textroom.so",
    "libjanus_videocall.so",
    "libjanus_voicemail.so",
)
KNOWN_TRANSPORTS = (
    "libjanus_http.so",
    "libjanus_mqtt.so",
    "libjanus_nanomsg.so",
    "libjanus_pfunix.so",
    "libjanus_rabbitmq.so",
)
KNOWN_LOGGERS = ("libjanus_jsonlog.so",)

JANUS_CONFIG = "janus.jcfg"
VIDEOROOM_CONFIG = "janus.plugin.videoroom.jcfg"
WEBSOCKETS_CONFIG = "janus.transport.websockets.jcfg"
LOG_FILE = "janus.log"


@dataclass(frozen=True)
class JanusConfig:
    """Everything the rendered config depends on; secrets are supplied, never defaulted."""

    folder: Path
    ip: str  # non-loopback IPv4: ICE candidates bind here
    ws_port: int
    admin_secret: str
    token_auth_secret: str
    admin_key: str
    rtp_port_min: int = 20000
    rtp_port_max: int = 40000
    # 4 = info: start-up, errors and warnings, without per-packet noise.
    debug_level: int = 4
    session_timeout: int = 60
    server_name: str = "diemcau"
    plugins_folder: Path = PLUGINS_FOLDER
    transports_folder: Path = TRANSPORTS_FOLDER
    events_folder: Path = EVENTS_FOLDER
    loggers_folder: Path = LOGGERS_FOLDER
    # Where the WebSocket transport listens: loopback behind the HTTPS front ("" = `ip`).
    ws_ip: str = ""
    # 1:1 NAT (a cloud server with a private interface): the public address sites reach.
    public_ip: str = ""

    def __post_init__(self) -> None:
        for name in ("admin_secret", "token_auth_secret", "admin_key"):
            value = getattr(self, name)
            if len(value) < 16:
                raise ValueError(f"{name} must be at least 16 characters (got {len(value)})")
        if not 0 < self.ws_port < 65536:
            raise ValueError(f"ws_port must be 1-65535 (got {self.ws_port})")
        if not 0 < self.rtp_port_min < self.rtp_port_max < 65536:
            raise ValueError(
                "rtp port range must be 0 < min < max < 65536 "
                f"(got {self.rtp_port_min}-{self.rtp_port_max})"
            )
        if not 0 <= self.debug_level <= 7:
            raise ValueError(f"debug_level must be 0-7 (got {self.debug_level})")
        if self.ip.startswith("127.") or not self.ip:
            raise ValueError(f"ip must be a non-loopback address (got {self.ip!r})")

    @property
    def ws_url(self) -> str:
        return f"ws://{self.ws_ip or self.ip}:{self.ws_port}"

    @property
    def janus_jcfg(self) -> Path:
        return self.folder / JANUS_CONFIG

    @property
    def log_file(self) -> Path:
        return self.folder / LOG_FILE


def render(config: JanusConfig) -> dict[str, str]:
    """The three config files' contents, by file name."""
    return {
        JANUS_CONFIG: _janus_jcfg(config),
        VIDEOROOM_CONFIG: _videoroom_jcfg(config),
        WEBSOCKETS_CONFIG: _websockets_jcfg(config),
    }


def write(config: JanusConfig) -> Path:
    """Write the config folder (mode 0700, files 0600: they hold secrets); return it."""
    config.folder.mkdir(parents=True, exist_ok=True)
    config.folder.chmod(0o700)
    for name, text in render(config).items():
        path = config.folder / name
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        tmp.replace(path)
    return config.folder


def command(config: JanusConfig, janus_binary: str = "/usr/bin/janus") -> list[str]:
    """The command line that runs Janus on this config (logging to the file only)."""
    return [janus_binary, "-F", str(config.folder), "-C", str(config.janus_jcfg), "-N"]


def _janus_jcfg(c: JanusConfig) -> str:
    plugins_off = _disable_list(c.plugins_folder, KNOWN_PLUGINS, keep=VIDEOROOM_LIBRARY)
    transports_off = _disable_list(c.transports_folder, KNOWN_TRANSPORTS, keep=WEBSOCKETS_LIBRARY)
    loggers_off = _disable_list(c.loggers_folder, KNOWN_LOGGERS, keep=None)
    return f"""# Generated by diemcau.media.janusconfig; edits are overwritten on the next start.
general: {{
	configs_folder = {_q(str(c.folder))}
	plugins_folder = {_q(str(c.plugins_folder))}
	transports_folder = {_q(str(c.transports_folder))}
	events_folder = {_q(str(c.events_folder))}
	loggers_folder = {_q(str(c.loggers_folder))}
	log_to_file = {_q(str(c.log_file))}
	debug_level = {c.debug_level}
	debug_timestamps = true
	debug_colors = false
	server_name = {_q(c.server_name)}
	session_timeout = {c.session_timeout}
	# The admin API stays off (see admin_ws below); a real secret keeps it closed anyway.
	admin_secret = {_q(c.admin_secret)}
	token_auth = true
	token_auth_secret = {_q(c.token_auth_secret)}
	interface = {_q(c.ip)}
	hide_dependencies = true
	protected_folders = [ "/bin", "/boot", "/dev", "/etc", "/initrd", "/lib", "/lib32",
		"/lib64", "/proc", "/sbin", "/sys", "/usr", "/var" ]
}}
certificates: {{
}}
media: {{
	rtp_port_range = "{c.rtp_port_min}-{c.rtp_port_max}"
}}
nat: {{
	# Host candidates on this address only; sites behind firewalls reach it through our
	# TURN relay (coturn), which the browsers use, not Janus.
	ice_enforce_list = {_q(c.ip)}
	ignore_mdns = true{_nat_mapping(c)}
}}
plugins: {{
	disable = {_q(",".join(plugins_off))}
}}
transports: {{
	disable = {_q(",".join(transports_off))}
}}
loggers: {{
	disable = {_q(",".join(loggers_off))}
}}
events: {{
	broadcast = false
}}
"""


def _nat_mapping(c: JanusConfig) -> str:
    if not c.public_ip:
        return ""
    # Both: sites outside reach the public address, HQ on the same network the private one.
    return f"""
	nat_1_1_mapping = {_q(c.public_ip)}
	keep_private_host = true"""


def _videoroom_jcfg(c: JanusConfig) -> str:
    # No static rooms: the web app creates each room over the API with its own secret.
    return f"""# Generated by diemcau.media.janusconfig; edits are overwritten on the next start.
general: {{
	admin_key = {_q(c.admin_key)}
	lock_rtp_forward = true
}}
"""


def _websockets_jcfg(c: JanusConfig) -> str:
    return f"""# Generated by diemcau.media.janusconfig; edits are overwritten on the next start.
general: {{
	json = "plain"
	ws = true
	ws_port = {c.ws_port}
	ws_ip = {_q(c.ws_ip or c.ip)}
	wss = false
}}
admin: {{
	admin_ws = false
	admin_wss = false
}}
"""


def _disable_list(folder: Path, known: tuple[str, ...], keep: str | None) -> list[str]:
    # Janus only loads files whose names end in ".so" and matches "disable" by exact name.
    try:
        found = {p.name for p in folder.iterdir() if p.name.endswith(".so")}
    except OSError:
        found = set()
    return sorted((found | set(known)) - ({keep} if keep else set()))


def _q(value: str) -> str:
    """A libconfig string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
