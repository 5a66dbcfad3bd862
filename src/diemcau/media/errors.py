"""Janus error codes as typed exceptions.

Docs: docs/janus.md. Core codes come from Janus's ``apierror.h``; VideoRoom codes from the
``JANUS_VIDEOROOM_ERROR_*`` macros in ``janus_videoroom.c`` (both checked against 1.1.2).
Callers catch a named class (``NoSuchRoom``) instead of comparing numbers, and every
refusal on grounds of identity (bad core token, token without the plugin, wrong room
secret/admin_key/join token) is also an ``Unauthorized``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class MediaError(Exception):
    """Anything that went wrong talking to Janus."""


class JanusError(MediaError):
    """Janus answered with an error code.

    ``code`` is Janus's number, ``reason`` its text; the message names both so a log line
    alone says what happened.
    """

    code: int = 0

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusTimeout(MediaError, TimeoutError):
    """No reply to a transaction within its timeout."""


class JanusConnectionError(MediaError, ConnectionError):
    """The WebSocket to Janus is not open (never opened, dropped, or closed)."""


class Unauthorized(JanusError):
    """Refused for lack of the right token, secret or key (core 403/405, VideoRoom 433)."""


# --- Janus core (apierror.h) -------------------------------------------------------------


class JanusCoreError(JanusError):
    """An error from the Janus core (the ``{"janus": "error"}`` reply)."""


class CoreUnauthorized(JanusCoreError, Unauthorized):
    code = 403  # missing, expired or badly signed core token


class UnauthorizedPlugin(JanusCoreError, Unauthorized):
    code = 405  # the core token is valid but does not list this plugin


class TransportSpecific(JanusCoreError):
    code = 450


class MissingRequest(JanusCoreError):
    code = 452


class UnknownRequest(JanusCoreError):
    code = 453


class InvalidJson(JanusCoreError):
    code = 454


class InvalidJsonObject(JanusCoreError):
    code = 455


class MissingMandatoryElement(JanusCoreError):
    code = 456


class InvalidRequestPath(JanusCoreError):
    code = 457


class SessionNotFound(JanusCoreError):
    code = 458


class HandleNotFound(JanusCoreError):
    code = 459


class PluginNotFound(JanusCoreError):
    code = 460


class PluginAttachError(JanusCoreError):
    code = 461


class PluginMessageError(JanusCoreError):
    code = 462


class PluginDetachError(JanusCoreError):
    code = 463


class JsepUnknownType(JanusCoreError):
    code = 464


class JsepInvalidSdp(JanusCoreError):
    code = 465


class TrickleInvalidStream(JanusCoreError):
    code = 466


class InvalidElementType(JanusCoreError):
    code = 467


class SessionConflict(JanusCoreError):
    code = 468


class UnexpectedAnswer(JanusCoreError):
    code = 469


class TokenNotFound(JanusCoreError):
    code = 470


class WebrtcState(JanusCoreError):
    code = 471


class NotAcceptingSessions(JanusCoreError):
    code = 472


class CoreUnknownError(JanusCoreError):
    code = 490


# --- VideoRoom plugin (janus_videoroom.c, JANUS_VIDEOROOM_ERROR_*) ------------------------


class VideoRoomError(JanusError):
    """An error from the VideoRoom plugin (``error_code`` in the plugin data)."""


class NoMessage(VideoRoomError):
    code = 421


class InvalidVideoRoomJson(VideoRoomError):
    code = 422


class InvalidVideoRoomRequest(VideoRoomError):
    code = 423


class JoinFirst(VideoRoomError):
    code = 424


class AlreadyJoined(VideoRoomError):
    code = 425


class NoSuchRoom(VideoRoomError):
    code = 426


class RoomExists(VideoRoomError):
    code = 427


class NoSuchFeed(VideoRoomError):
    code = 428  # also "no such participant" and "no such stream (mid)"


class MissingElement(VideoRoomError):
    code = 429  # e.g. create without admin_key when one is configured


class InvalidElement(VideoRoomError):
    code = 430


class InvalidSdpType(VideoRoomError):
    code = 431


class PublishersFull(VideoRoomError):
    code = 432


class RoomUnauthorized(VideoRoomError, Unauthorized):
    code = 433  # wrong admin_key, wrong room secret, join token not in the allowed list


class AlreadyPublished(VideoRoomError):
    code = 434


class NotPublished(VideoRoomError):
    code = 435


class IdExists(VideoRoomError):
    code = 436


class InvalidSdp(VideoRoomError):
    code = 437


class VideoRoomUnknownError(VideoRoomError):
    code = 499


def _by_code(base: type[JanusError]) -> dict[int, type[JanusError]]:
    return {cls.code: cls for cls in _all_subclasses(base) if cls.code}


def _all_subclasses(cls: type[JanusError]) -> list[type[JanusError]]:
    found: list[type[JanusError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


CORE_ERRORS: dict[int, type[JanusError]] = _by_code(JanusCoreError)
VIDEOROOM_ERRORS: dict[int, type[JanusError]] = _by_code(VideoRoomError)

VIDEOROOM_PLUGIN = "janus.plugin.videoroom"


def core_error(code: int, reason: str) -> JanusError:
    """The exception for a core error code (``JanusCoreError`` if the code is new to us)."""
    return CORE_ERRORS.get(code, JanusCoreError)(code, reason)


def plugin_error(plugin: str, code: int, reason: str) -> JanusError:
    """The exception for a plugin error code; only VideoRoom codes have names."""
    if plugin == VIDEOROOM_PLUGIN:
        return VIDEOROOM_ERRORS.get(code, VideoRoomError)(code, reason)
    return JanusError(code, reason)


def error_from_reply(reply: Mapping[str, Any]) -> JanusError | None:
    """The error a Janus reply carries, or None if it carries none.

    Two shapes exist: the core's ``{"janus": "error", "error": {"code", "reason"}}`` and a
    plugin's ``{"plugindata": {"plugin", "data": {"error_code", "error"}}}`` inside a
    ``success`` (sync request) or ``event`` (async request) reply.
    """
    if reply.get("janus") == "error":
        error = reply.get("error")
        if not isinstance(error, Mapping):
            return JanusCoreError(0, f"error reply without an error object: {dict(reply)!r}")
        return core_error(_int(error.get("code")), str(error.get("reason", "")))
    plugindata = reply.get("plugindata")
    if isinstance(plugindata, Mapping):
        data = plugindata.get("data")
        if isinstance(data, Mapping) and "error_code" in data:
            return plugin_error(
                str(plugindata.get("plugin", "")),
                _int(data.get("error_code")),
                str(data.get("error", "")),
            )
    return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
