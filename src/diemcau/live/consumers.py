"""The control WebSocket: one per page (site room or HQ console).

Thin by design: it works out who is connected (`Actor`), turns each message into one call
of `live.services`, and relays broadcast events. Every message is checked there against
the sender's role and site. Docs: docs/live.md (the protocol).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.translation import gettext as _

from diemcau.accounts.permissions import can_manage_meetings, is_hq_staff
from diemcau.live import media_policy, services
from diemcau.live.actions import BAD_VALUE, NOT_ALLOWED, SERVER_ERROR, UNKNOWN_TYPE
from diemcau.live.services import Actor, Refused
from diemcau.meetings.joinlinks import DELEGATE_KEY, SESSION_KEY
from diemcau.meetings.models import Invitation, Meeting

log = logging.getLogger(__name__)

# Close codes (4000-4999 are ours): the page shows why and does not retry for these.
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


def resolve_actor(scope: dict[str, Any], meeting_id: int, role: str) -> Actor | None:
    meeting = Meeting.objects.filter(pk=meeting_id).first()
    if meeting is None:
        return None
    if role == "hq":
        user = scope.get("user")
        if not is_hq_staff(user):
            return None
        return Actor(
            meeting_id=meeting_id,
            site_id=meeting.main_site_id,
            hq=True,
            user=user,
            chair=can_manage_meetings(user),
        )
    if role == "site":
        session = scope.get("session")
        joined = (session.get(SESSION_KEY, {}) if session is not None else {}) or {}
        site_id = joined.get(str(meeting_id))
        if site_id is None:
            return None
        # The invitation may have been withdrawn since the link was opened.
        if not Invitation.objects.filter(meeting_id=meeting_id, site_id=site_id).exists():
            return None
        return Actor(meeting_id=meeting_id, site_id=int(site_id), hq=False)
    if role == "delegate":
        session = scope.get("session")
        mine = ((session.get(DELEGATE_KEY, {}) if session is not None else {}) or {}).get(
            str(meeting_id)
        )
        if (
            not mine
            or not Invitation.objects.filter(
                meeting_id=meeting_id, site_id=mine.get("site")
            ).exists()
        ):
            return None
        return Actor(
            meeting_id=meeting_id, site_id=int(mine["site"]), hq=False, voter=str(mine["voter"])
        )
    return None


Handler = Callable[[Actor, dict[str, Any]], services.Event]

HANDLERS: dict[str, Handler] = {
    "floor.request": lambda a, m: services.request_floor(a, str(m.get("topic", ""))),
    "floor.cancel": lambda a, m: services.cancel_floor_request(a),
    "floor.grant": lambda a, m: services.grant_floor(
        a, request_id=_int_or_none(m.get("request")), site_id=_int_or_none(m.get("site"))
    ),
    "floor.decline": lambda a, m: services.decline_floor(a, _int(m.get("request"))),
    "floor.take_back": lambda a, m: services.take_back_floor(a),
    "mute": lambda a, m: services.set_mute(a, _int(m.get("site")), _bool(m.get("mute", True))),
    "mute.all": lambda a, m: services.mute_all(a),
    "main_source.set": lambda a, m: services.set_main_source(a, _int_or_none(m.get("site"))),
    "screen.set": lambda a, m: services.set_screen_share(a, _bool(m.get("sharing"))),
    "roll_call.open": lambda a, m: services.open_roll_call(a),
    "roll_call.close": lambda a, m: services.close_roll_call(a),
    "roll_call.answer": lambda a, m: services.answer_roll_call(a, m.get("delegates")),  # type: ignore[arg-type]
    "announce": lambda a, m: services.announce(a, str(m.get("text", ""))),
    "chat.send": lambda a, m: services.send_chat(a, m.get("text")),  # type: ignore[arg-type]
    "vote.open": lambda a, m: services.open_vote(
        a,
        str(m.get("text", "")),
        m.get("options") if isinstance(m.get("options"), list) else None,
        str(m.get("counting", "site")),
        _bool(m.get("secret", False)),
        m.get("quorum_percent", 50),
        m.get("majority_percent", 50),
    ),
    "vote.cast": lambda a, m: services.cast_vote(a, m.get("choice"), m.get("counts")),
    "vote.close": lambda a, m: services.close_vote(a),
}

# Events after which Janus must be told whose audio to let through.
AUDIO_KINDS = {"floor.granted", "floor.ended", "mics", "main_source"}


def _quality(message: dict[str, Any]) -> dict[str, float | None]:
    """Keep only the numbers the wall shows (round-trip ms, packet loss %, uplink kbps)."""
    out: dict[str, float | None] = {}
    for key in ("rtt", "loss", "kbps"):
        value = message.get(key)
        out[key] = float(value) if isinstance(value, int | float) and value >= 0 else None
    return out


# A site page's camera and microphone (static/live/devices.js) and its media problem.
MEDIA_STATES = ("ok", "missing", "denied", "busy", "insecure", "error")
MEDIA_PROBLEMS = (None, "ws", "ice")


def _media_status(message: dict[str, Any]) -> dict[str, Any]:
    """Check a `media.status` report strictly; the refusal names the bad field and value."""
    out: dict[str, Any] = {}
    for key in ("camera", "microphone"):
        value = message.get(key)
        if not isinstance(value, str) or value not in MEDIA_STATES:
            raise Refused(
                BAD_VALUE,
                _("%(field)s must be in %(allowed)s (got %(value)s)")
                % {"field": repr(key), "allowed": list(MEDIA_STATES), "value": repr(value)},
            )
        out[key] = value
    receive_only = message.get("receive_only")
    if not isinstance(receive_only, bool):
        raise Refused(
            BAD_VALUE,
            _("%(field)s must be true or false (got %(value)s)")
            % {"field": "'receive_only'", "value": repr(receive_only)},
        )
    out["receive_only"] = receive_only
    problem = message.get("problem")
    if not (problem is None or (isinstance(problem, str) and problem in MEDIA_PROBLEMS)):
        raise Refused(
            BAD_VALUE,
            _("%(field)s must be in %(allowed)s (got %(value)s)")
            % {"field": "'problem'", "allowed": list(MEDIA_PROBLEMS), "value": repr(problem)},
        )
    out["problem"] = problem
    return out


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(
            BAD_VALUE, _("expected a whole number (got %(value)s)") % {"value": repr(value)}
        )
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Refused(
            BAD_VALUE, _("expected true or false (got %(value)s)") % {"value": repr(value)}
        )
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else _int(value)


def _request_host(scope: dict[str, Any]) -> str:
    """The name the page was opened at (the Host header, without its port)."""
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = value.decode("latin-1").strip().lower()
            if host.startswith("["):
                return host[1 : host.find("]")] if "]" in host else ""
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return ""


class MeetingConsumer(AsyncWebsocketConsumer):
    actor: Actor | None = None
    attendance_id: int | None = None

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        meeting_id, role = int(kwargs["meeting_id"]), kwargs["role"]
        self.actor = await database_sync_to_async(resolve_actor)(self.scope, meeting_id, role)
        await self.accept()
        if self.actor is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = services.group_name(meeting_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        if self.actor.site_id is not None and not self.actor.voter:
            _event, self.attendance_id = await database_sync_to_async(services.site_connected)(
                self.actor
            )
        await self._send_snapshot()

    async def disconnect(self, code: int) -> None:
        if self.actor is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.attendance_id is not None:
            # 1000/1001: the page was closed or reloaded; anything else is a dropped link.
            await database_sync_to_async(services.site_disconnected)(
                self.actor, self.attendance_id, dropped=code not in (1000, 1001)
            )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        actor = self.actor
        if actor is None or text_data is None:
            return
        try:
            message = json.loads(text_data)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError:
            await self._reply({"type": "error", "code": BAD_VALUE, "message": _("invalid JSON")})
            return
        kind = str(message.get("type", ""))
        ref = message.get("ref")
        try:
            if kind == "snapshot":
                await self._send_snapshot()
            elif kind == "media.access":
                # The database part on a worker thread, the Janus part on the Janus link:
                # a burst of sites joining queues on neither the sync thread nor this loop.
                access = await media_policy.aaccess_for(actor, _request_host(self.scope))
                await self._reply({"type": "media.access", "ref": ref, **access})
            elif kind == "media.published":
                self._enforce_audio_soon()
            elif kind == "quality" and actor.site_id is not None:
                # Ephemeral: relayed to HQ's video wall, not recorded, no sequence number.
                await self.channel_layer.group_send(
                    self.group,
                    {"type": "live.quality", "site": actor.site_id, "quality": _quality(message)},
                )
            elif kind == "media.status":
                # Ephemeral, like quality: HQ's wall shows each site's devices and problem.
                if actor.hq or actor.voter or actor.site_id is None:
                    raise Refused(
                        NOT_ALLOWED, _("only a site's room page reports its media status")
                    )
                await self.channel_layer.group_send(
                    self.group,
                    {
                        "type": "live.media_status",
                        "site": actor.site_id,
                        "status": _media_status(message),
                    },
                )
            elif kind in HANDLERS:
                event = await database_sync_to_async(HANDLERS[kind])(actor, message)
                await self._reply({"type": "ok", "ref": ref, "seq": event.seq})
                if event.kind in AUDIO_KINDS:
                    self._enforce_audio_soon()
            else:
                raise Refused(
                    UNKNOWN_TYPE, _("unknown message type %(value)s") % {"value": repr(kind)}
                )
        except Refused as exc:
            await self._reply(
                {
                    "type": "error",
                    "ref": ref,
                    "request": kind,
                    "code": exc.code,
                    "message": str(exc),
                }
            )
        except Exception:
            log.exception("live message %s from %s failed", kind, actor)
            await self._reply(
                {
                    "type": "error",
                    "ref": ref,
                    "request": kind,
                    "code": SERVER_ERROR,
                    "message": _("server error"),
                }
            )

    async def live_event(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])

    async def live_quality(self, event: dict[str, Any]) -> None:
        if self.actor is not None and self.actor.hq:
            await self._reply({"type": "quality", "site": event["site"], **event["quality"]})

    async def live_media_status(self, event: dict[str, Any]) -> None:
        if self.actor is not None and self.actor.hq:
            await self._reply({"type": "media_status", "site": event["site"], **event["status"]})

    async def _send_snapshot(self) -> None:
        assert self.actor is not None
        snap = await database_sync_to_async(services.snapshot)(self.actor.meeting_id)
        snap["you"] = {"site": self.actor.site_id, "hq": self.actor.hq, "chair": self.actor.chair}
        await self._reply(snap)

    async def _reply(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, ensure_ascii=False))

    def _enforce_audio_soon(self) -> None:
        """Tell Janus whose audio passes, without holding up this connection."""
        assert self.actor is not None
        media_policy.enforcement.soon(self.actor.meeting_id)
