"""The rendered Janus config loads only what we use and carries the supplied secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diemcau.media.janusconfig import JanusConfig, command, render, write


def make(tmp_path: Path, **overrides: object) -> JanusConfig:
    values: dict[str, object] = {
        "folder": tmp_path / "janus",
        "ip": "192.0.2.2",
        "ws_port": 18188,
        "admin_secret": "A" * 32,
        "token_auth_secret": "T" * 32,
        "admin_key": "K" * 32,
        "rtp_port_min": 30000,
        "rtp_port_max": 30999,
        "plugins_folder": tmp_path / "nowhere",  # only the built-in known lists apply
    }
    values.update(overrides)
    return JanusConfig(**values)  # type: ignore[arg-type]


def setting(text: str, name: str) -> str:
    found = re.search(rf"^\s*{name} = (.*)$", text, re.MULTILINE)
    assert found, f"{name} not in config"
    return found.group(1)


def test_core_requires_signed_tokens_and_binds_ice_to_the_ip(tmp_path: Path) -> None:
    text = render(make(tmp_path))["janus.jcfg"]
    assert setting(text, "token_auth") == "true"
    assert setting(text, "token_auth_secret") == '"' + "T" * 32 + '"'
    assert setting(text, "admin_secret") == '"' + "A" * 32 + '"'
    assert setting(text, "ice_enforce_list") == '"192.0.2.2"'
    assert setting(text, "rtp_port_range") == '"30000-30999"'
    assert setting(text, "broadcast") == "false"
    assert setting(text, "log_to_file") == f'"{tmp_path / "janus" / "janus.log"}"'


def test_only_videoroom_and_websockets_are_left_enabled(tmp_path: Path) -> None:
    text = render(make(tmp_path))["janus.jcfg"]
    plugins_block = text[text.index("plugins: {") :]
    plugins_off = setting(plugins_block, "disable").strip('"').split(",")
    transports_block = text[text.index("transports: {") :]
    transports_off = setting(transports_block, "disable").strip('"').split(",")
    assert "libjanus_videoroom.so" not in plugins_off
    assert {"libjanus_echotest.so", "libjanus_streaming.so", "libjanus_sip.so"} <= set(plugins_off)
    assert "libjanus_websockets.so" not in transports_off
    assert {"libjanus_http.so", "libjanus_pfunix.so"} <= set(transports_off)


def test_videoroom_requires_admin_key_for_create_and_rtp_forward(tmp_path: Path) -> None:
    text = render(make(tmp_path))["janus.plugin.videoroom.jcfg"]
    assert setting(text, "admin_key") == '"' + "K" * 32 + '"'
    assert setting(text, "lock_rtp_forward") == "true"
    assert "room-" not in text  # no static rooms


def test_websockets_bound_to_ip_and_admin_api_off(tmp_path: Path) -> None:
    text = render(make(tmp_path))["janus.transport.websockets.jcfg"]
    assert setting(text, "ws_port") == "18188"
    assert setting(text, "ws_ip") == '"192.0.2.2"'
    assert setting(text, "admin_ws") == "false"
    assert setting(text, "admin_wss") == "false"


def test_written_files_are_private(tmp_path: Path) -> None:
    config = make(tmp_path)
    folder = write(config)
    assert folder.stat().st_mode & 0o777 == 0o700
    for name in render(config):
        assert (folder / name).stat().st_mode & 0o777 == 0o600
    assert command(config)[:3] == ["/usr/bin/janus", "-F", str(folder)]


def test_quotes_in_values_are_escaped(tmp_path: Path) -> None:
    text = render(make(tmp_path, admin_key='K"\\' + "k" * 30))["janus.plugin.videoroom.jcfg"]
    assert setting(text, "admin_key") == '"K\\"\\\\' + "k" * 30 + '"'


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("admin_key", "short", "admin_key"),
        ("ip", "127.0.0.1", "127.0.0.1"),
        ("ws_port", 0, "ws_port"),
        ("rtp_port_max", 100, "rtp port range"),
    ],
)
def test_bad_value_is_refused_by_name(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make(tmp_path, **{field: value})
