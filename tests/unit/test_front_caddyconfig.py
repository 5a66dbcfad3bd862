"""The generated Caddyfile: one HTTPS origin for the app (and through it /janus), /ca/ on
plain HTTP."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from diemcau.config import FrontSettings
from diemcau.front import caddyconfig
from diemcau.front.caddyconfig import Upstreams

UP = Upstreams(app_port=8000)


def front(tmp_path: Path, **changes: object) -> FrontSettings:
    base = FrontSettings(
        mode="internal",
        names=("10.0.0.5", "hop-server", "localhost", "127.0.0.1"),
        https_port=443,
        http_port=80,
        app_port=8000,
        folder=tmp_path / "caddy",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_internal_ca_covers_every_name_and_never_touches_the_trust_store(tmp_path: Path) -> None:
    text = caddyconfig.render(front(tmp_path), UP)
    assert "https://10.0.0.5:443, https://hop-server:443, https://localhost:443" in text
    assert "tls internal" in text
    assert "skip_install_trust" in text
    assert "admin off" in text


def test_the_app_is_reached_on_loopback_only_and_janus_only_through_it(tmp_path: Path) -> None:
    text = caddyconfig.render(front(tmp_path), UP)
    https_block = text[: text.index("http:// {")]
    assert "\treverse_proxy 127.0.0.1:8000\n" in https_block
    # /janus is the app's (its gate caps what publishers ask Janus for): no path of the
    # front goes to Janus's own port.
    assert "/janus" not in text and "8188" not in text
    assert "0.0.0.0:8000" not in text


def test_plain_http_serves_ca_and_explains_the_rest_with_the_local_ca(tmp_path: Path) -> None:
    text = caddyconfig.render(front(tmp_path), UP)
    http_block = text[text.index("http:// {") :]
    assert "@public path /ca/* /static/diemcau/* /static/front/* /jsi18n/" in http_block
    assert "rewrite * /ca/continue/?\n" in http_block  # the query goes too
    assert "header_up X-Diemcau-Original-Uri {http.request.orig_uri}" in http_block
    assert "redir" not in http_block


def test_public_certificates_redirect_plain_http_to_https_with_its_port(tmp_path: Path) -> None:
    text = caddyconfig.render(front(tmp_path, mode="acme", domain="hop.example.vn"), UP)
    assert "https://hop.example.vn:443 {" in text
    assert "tls internal" not in text
    assert "redir https://{host}{uri} 308" in text
    other = caddyconfig.render(
        front(tmp_path, mode="acme", domain="hop.example.vn", https_port=8443), UP
    )
    assert "redir https://{host}:8443{uri} 308" in other


def test_own_certificate_files_are_used_for_every_name(tmp_path: Path) -> None:
    text = caddyconfig.render(
        front(tmp_path, mode="own", tls_cert="/etc/ssl/full.pem", tls_key="/etc/ssl/key.pem"), UP
    )
    assert 'tls "/etc/ssl/full.pem" "/etc/ssl/key.pem"' in text


def test_ipv6_addresses_are_bracketed(tmp_path: Path) -> None:
    text = caddyconfig.render(front(tmp_path, names=("fd00::2",)), UP)
    assert "https://[fd00::2]:443" in text


def test_a_value_that_could_break_the_caddyfile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not allowed in a Caddyfile"):
        caddyconfig.render(front(tmp_path, mode="own", tls_cert='/x" }', tls_key="/k"), UP)


def test_an_external_front_has_no_caddyfile(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="external"):
        caddyconfig.render(front(tmp_path, mode="external"), UP)


def test_caddyfile_is_private_to_the_service(tmp_path: Path) -> None:
    f = front(tmp_path)
    path = caddyconfig.write(f, UP)
    assert path.stat().st_mode & 0o077 == 0
    assert f.folder.stat().st_mode & 0o077 == 0


def test_front_settings_choose_the_certificate_mode_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from diemcau import config

    monkeypatch.setenv("DIEMCAU_DATA_DIR", str(tmp_path))
    for name in ("DIEMCAU_DOMAIN", "DIEMCAU_TLS_CERT", "DIEMCAU_TLS_KEY", "DIEMCAU_FRONT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIEMCAU_HOSTS", "hop.local")
    local = config.front_settings()
    assert local.mode == "internal"
    assert "hop.local" in local.names and "127.0.0.1" in local.names
    assert local.ca_url.startswith("http://") and local.ca_url.endswith("/ca/")
    monkeypatch.setenv("DIEMCAU_DOMAIN", "Hop.Example.VN.")
    acme = config.front_settings()
    assert acme.mode == "acme" and acme.address == "hop.example.vn"
    assert acme.origin() == "https://hop.example.vn"
    monkeypatch.setenv("DIEMCAU_HTTPS_PORT", "8443")
    assert config.front_settings().origin() == "https://hop.example.vn:8443"


def test_front_settings_name_the_bad_value(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from diemcau import config

    monkeypatch.setenv("DIEMCAU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DIEMCAU_HTTPS_PORT", "https")
    with pytest.raises(config.ConfigError, match=r"DIEMCAU_HTTPS_PORT.*'https'"):
        config.front_settings()
    monkeypatch.setenv("DIEMCAU_HTTPS_PORT", "443")
    monkeypatch.setenv("DIEMCAU_TLS_CERT", str(tmp_path / "missing.pem"))
    with pytest.raises(config.ConfigError, match="go together"):
        config.front_settings()
    monkeypatch.setenv("DIEMCAU_TLS_KEY", str(tmp_path / "missing.key"))
    with pytest.raises(config.ConfigError, match="no such file"):
        config.front_settings()
