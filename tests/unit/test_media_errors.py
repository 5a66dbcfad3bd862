"""Janus replies become typed exceptions (codes from Janus 1.1.2 apierror.h and VideoRoom)."""

from __future__ import annotations

from typing import Any

import pytest

from diemcau.media.errors import (
    AlreadyJoined,
    AlreadyPublished,
    CoreUnauthorized,
    HandleNotFound,
    JanusCoreError,
    JanusError,
    MissingElement,
    NoSuchFeed,
    NoSuchRoom,
    PluginNotFound,
    RoomExists,
    RoomUnauthorized,
    SessionNotFound,
    Unauthorized,
    UnauthorizedPlugin,
    VideoRoomError,
    error_from_reply,
)


def core(code: int, reason: str = "why") -> dict[str, Any]:
    return {"janus": "error", "transaction": "t", "error": {"code": code, "reason": reason}}


def videoroom(code: int, reason: str = "why", kind: str = "success") -> dict[str, Any]:
    return {
        "janus": kind,
        "transaction": "t",
        "plugindata": {
            "plugin": "janus.plugin.videoroom",
            "data": {"videoroom": "event", "error_code": code, "error": reason},
        },
    }


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (403, CoreUnauthorized),
        (405, UnauthorizedPlugin),
        (458, SessionNotFound),
        (459, HandleNotFound),
        (460, PluginNotFound),
    ],
)
def test_core_error_code_maps_to_named_exception(code: int, cls: type[JanusError]) -> None:
    error = error_from_reply(core(code, "Unauthorized request"))
    assert type(error) is cls
    assert error.code == code
    assert error.reason == "Unauthorized request"
    assert f"{code}" in str(error) and "Unauthorized request" in str(error)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (425, AlreadyJoined),
        (426, NoSuchRoom),
        (427, RoomExists),
        (428, NoSuchFeed),
        (429, MissingElement),
        (433, RoomUnauthorized),
        (434, AlreadyPublished),
    ],
)
def test_videoroom_error_code_maps_to_named_exception(code: int, cls: type[JanusError]) -> None:
    assert type(error_from_reply(videoroom(code))) is cls
    # Async requests carry the same error in an "event" instead of a "success".
    assert type(error_from_reply(videoroom(code, kind="event"))) is cls


def test_every_refusal_of_identity_is_unauthorized() -> None:
    for reply in (core(403), core(405), videoroom(433)):
        assert isinstance(error_from_reply(reply), Unauthorized)
    assert not isinstance(error_from_reply(videoroom(426)), Unauthorized)


def test_unknown_codes_keep_their_family() -> None:
    assert type(error_from_reply(core(499))) is JanusCoreError
    assert type(error_from_reply(videoroom(498))) is VideoRoomError


def test_successful_replies_carry_no_error() -> None:
    assert error_from_reply({"janus": "success", "data": {"id": 1}}) is None
    assert error_from_reply({"janus": "ack"}) is None
    ok = {
        "janus": "event",
        "plugindata": {
            "plugin": "janus.plugin.videoroom",
            "data": {"videoroom": "joined", "id": 7},
        },
    }
    assert error_from_reply(ok) is None


def test_error_reply_without_error_object_is_still_an_error() -> None:
    error = error_from_reply({"janus": "error"})
    assert isinstance(error, JanusCoreError)
