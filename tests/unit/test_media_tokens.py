"""Janus core signed tokens (Janus 1.1.2 auth.c: HMAC-SHA1, standard base64)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from diemcau.media.tokens import sign_token, verify_token

SECRET = "unit-test-secret-not-used-anywhere"
NOW = 1_800_000_000


def test_token_has_expiry_realm_plugins_and_signature() -> None:
    token = sign_token(SECRET, ttl_seconds=60, now=NOW)
    data, signature = token.split(":")
    assert data == f"{NOW + 60},janus,janus.plugin.videoroom"
    expected = hmac.new(SECRET.encode(), data.encode(), hashlib.sha1).digest()
    assert base64.b64decode(signature) == expected


def test_token_lists_every_plugin_in_order() -> None:
    token = sign_token(SECRET, plugins=("janus.plugin.videoroom", "janus.plugin.textroom"), now=NOW)
    assert token.split(":")[0].split(",")[2:] == ["janus.plugin.videoroom", "janus.plugin.textroom"]


def test_token_verifies_until_expiry_only() -> None:
    token = sign_token(SECRET, ttl_seconds=60, now=NOW)
    assert verify_token(SECRET, token, "janus.plugin.videoroom", now=NOW + 60)
    assert not verify_token(SECRET, token, now=NOW + 61)


def test_token_signed_with_other_secret_does_not_verify() -> None:
    token = sign_token("another-secret-entirely", now=NOW)
    assert not verify_token(SECRET, token, now=NOW)


def test_token_with_extended_expiry_does_not_verify() -> None:
    data, signature = sign_token(SECRET, ttl_seconds=60, now=NOW).split(":")
    forged = data.replace(str(NOW + 60), str(NOW + 3600)) + ":" + signature
    assert not verify_token(SECRET, forged, now=NOW)


def test_token_for_other_plugin_does_not_verify_for_videoroom() -> None:
    token = sign_token(SECRET, plugins=("janus.plugin.echotest",), now=NOW)
    assert not verify_token(SECRET, token, "janus.plugin.videoroom", now=NOW)


@pytest.mark.parametrize("bad", ["", "a,b", "a:b"])
def test_plugin_name_with_separator_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        sign_token(SECRET, plugins=(bad,))


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign_token("")


@pytest.mark.parametrize("garbage", ["", "no-colon", "x,janus:sig", "1,notjanus:sig", "1:2:3"])
def test_malformed_token_does_not_verify(garbage: str) -> None:
    assert not verify_token(SECRET, garbage, now=0)
