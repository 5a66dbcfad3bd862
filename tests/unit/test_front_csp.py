"""The Content-Security-Policy (diemcau.front.csp): only our scripts, only our connections."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from diemcau.config import FrontSettings
from diemcau.front import csp

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "diemcau"


def directives(header: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def front(mode: str = "internal", **changes: object) -> FrontSettings:
    return dataclasses.replace(settings.FRONT, mode=mode, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["accounts:login", "admin:login", "front:ca"])
def test_pages_carry_a_policy_that_runs_only_our_scripts(client: Client, url: str) -> None:
    response = client.get(reverse(url))
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["img-src"] == ["'self'"]
    assert "'self'" in policy["connect-src"]
    # Inline styles only as attributes; never inline (or evaluated) scripts.
    assert policy["style-src"] == ["'self'"]
    assert policy["style-src-attr"] == ["'unsafe-inline'"]
    assert not any("unsafe" in v for k, vs in policy.items() if k != "style-src-attr" for v in vs)


def test_janus_through_the_front_and_the_secure_origins_are_reachable() -> None:
    policy = csp.policy(front(names=("meet.example.vn", "10.0.0.5"), https_port=8443), "/janus")
    # The secure origins (the /ca/ pages' trust check over plain HTTP), wss: for /janus and
    # the control socket where a browser's 'self' does not cover it.
    assert policy["connect-src"] == [
        "'self'",
        "https://meet.example.vn:8443",
        "wss://meet.example.vn:8443",
        "https://10.0.0.5:8443",
        "wss://10.0.0.5:8443",
    ]


def test_ipv6_names_are_left_to_self() -> None:
    """CSP sources cannot name an IPv6 literal; a browser would drop the whole source."""
    policy = csp.policy(front(names=("fd00::5", "10.0.0.5"), https_port=443), "/janus")
    assert policy["connect-src"] == ["'self'", "https://10.0.0.5", "wss://10.0.0.5"]


def test_without_a_front_janus_on_its_own_port_is_allowed_by_its_url() -> None:
    policy = csp.policy(front("none", names=("10.0.0.5",)), "ws://127.0.0.1:8188")
    assert policy["connect-src"] == ["'self'", "ws://127.0.0.1:8188"]


def test_an_external_janus_is_allowed_by_its_origin_never_its_credentials() -> None:
    policy = csp.policy(front("none"), "wss://user:pw@janus.example.vn:8989/janus")
    assert policy["connect-src"] == ["'self'", "wss://janus.example.vn:8989"]


def test_the_policy_follows_serve_janus_url(settings: Any) -> None:
    """`serve --janus-url` sets the policy again: it is read on each response."""
    settings.SECURE_CSP = csp.policy(front("none"), "ws://10.1.1.1:8188")
    response = Client().get(reverse("accounts:login"))
    assert "ws://10.1.1.1:8188" in response.headers["Content-Security-Policy"]


# What the policy would block, looked for in every template and browser module: the e2e
# suite sees the pages, this keeps the source from growing them again.
TEMPLATES = sorted(PACKAGE.glob("**/templates/**/*.html"))
MODULES = sorted(p for p in PACKAGE.glob("**/static/**/*.js") if "vendor" not in p.parts)
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b[^>]*>", re.IGNORECASE)  # style="" attributes are allowed
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)
EVALUATED = re.compile(r"\beval\s*\(|\bnew\s+Function\b|\bset(?:Timeout|Interval)\s*\(\s*[\"'`]")


def test_the_scan_finds_templates_and_modules() -> None:
    assert any(p.name == "base.html" for p in TEMPLATES)
    assert any(p.name == "forms.js" for p in MODULES)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_template_has_inline_script_or_handler(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [
        *INLINE_SCRIPT.findall(text),
        *INLINE_HANDLER.findall(text),
        *SCRIPT_URL.findall(text),
        *STYLE_ELEMENT.findall(text),
    ]
    assert not found, f"{path}: the Content-Security-Policy blocks {found}; use a static file"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_browser_module_evaluates_a_string(path: Path) -> None:
    found = EVALUATED.findall(path.read_text(encoding="utf-8"))
    assert not found, f"{path}: the Content-Security-Policy blocks {found}"
