"""The control WebSocket: one per page (site room or HQ console).

Thin by design: it works out who is connected (`Actor`), turns each message into one call
of `live.services`, and relays broadcast events. Every message is checked there against
the sender's role and site. Docs: docs/live.md (the protocol).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.accounts.permissions import can_manage_meetings, is_hq_staff
from diemcau.live import linkpolicy, media_policy, revoke, seqbeat, services
from diemcau.live.actions import BAD_VALUE, NOT_ALLOWED, OVER_LIMIT, SERVER_ERROR, UNKNOWN_TYPE
from diemcau.live.revoke import CLOSE_FORBIDDEN
from diemcau.live.services import Actor, Refused
from diemcau.meetings import joinlinks
from diemcau.meetings.joinlinks import DELEGATE_KEY, SESSION_KEY
from diemcau.meetings.models import Meeting, MeetingStatus

log = logging.getLogger(__name__)

# A meeting over: its sites' and delegates' sockets are closed, new ones refused.
OVER = (MeetingStatus.ENDED, MeetingStatus.CANCELLED)


@dataclass(frozen=True)
class Admission:
    """Who a new socket is, and until when it may stay (a link's expiry)."""

    actor: Actor
    until: float | None = None  # a POSIX time; None: while the account stays active


def resolve_actor(scope: dict[str, Any], meeting_id: int, role: str) -> Actor | None:
    admitted = admit(scope, meeting_id, role)
    return admitted.actor if isinstance(admitted, Admission) else None


def admit(scope: dict[str, Any], meeting_id: int, role: str) -> Admission | int:
    """Checked on every new socket: an HQ account that is (still) active and HQ staff, or a
    session holding a link that still works (not revoked, not expired, site still invited).
    Sites and delegates are not let into a meeting that is over. Otherwise the close code
    that says why not."""
    meeting = Meeting.objects.filter(pk=meeting_id).first()
    if meeting is None:
        return revoke.CLOSE_NOT_FOUND
    if role == "hq":
        user = scope.get("user")
        if user is None or not is_hq_staff(user) or not user.is_active:
            return CLOSE_FORBIDDEN
        actor = Actor(
            meeting_id=meeting_id,
            site_id=meeting.main_site_id,
            hq=True,
            user=user,
            chair=can_manage_meetings(user),
        )
        return Admission(actor)
    if role not in ("site", "delegate"):
        return CLOSE_FORBIDDEN
    key = SESSION_KEY if role == "site" else DELEGATE_KEY
    opened = joinlinks.session_invitation(scope.get("session"), meeting_id, key)
    if opened is None:
        # A link that opened this session but no longer works, or none at all.
        had = joinlinks.session_grant(scope.get("session"), meeting_id, key)
        return revoke.CLOSE_REVOKED if had else CLOSE_FORBIDDEN
    if meeting.status in OVER:
        return revoke.CLOSE_ENDED
    invitation, grant = opened
    voter = grant.get("voter") if role == "delegate" else ""
    if role == "delegate" and not (isinstance(voter, str) and voter):
        return CLOSE_FORBIDDEN
    actor = Actor(
        meeting_id=meeting_id,
        site_id=invitation.site_id,
        hq=False,
        voter=str(voter),
        link=invitation.nonce,
    )
    return Admission(actor, until=float(grant["exp"]))


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
    "roll_call.confirm": lambda a, m: services.confirm_roll_call(
        a, _int(m.get("site")), _bool(m.get("accept"))
    ),
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
    "link.pin": lambda a, m: services.pin_link(a, _int(m.get("site")), m.get("layer")),
    "link.weak": lambda a, m: services.set_weak_link(a, _bool(m.get("on"))),
}

# Events after which Janus must be told whose audio to let through.
AUDIO_KINDS = {"floor.granted", "floor.ended", "mics", "main_source"}


# --- abuse: what one connection may send (docs/security.md) ---------------------------

MAX_MESSAGE_CHARS = 16 * 1024  # a control message is a few hundred characters
MAX_DEPTH = 8  # the deepest a real message nests is 3 (vote.cast counts)
RATE_PER_SECOND = 10.0  # sustained messages per second per connection
RATE_BURST = 30.0  # what a page may send at once (a reconnect, a burst of clicks)
CLOSE_ABUSE = 4429  # closed for flooding: the page may come back after a pause
# Refusals a connection may earn before it is closed: a bucket of its own that refills by
# one a second, so a page that now and then goes over the rate is never closed, and one
# that floods is, however the refused and passed messages interleave.
FLOOD_LIMIT = 100

# --- heartbeat: a cut link is seen in seconds (issue 12, item 6; docs/live.md) -----------

# A room page sends "ping" every second once it is connected and expects "pong" (or any
# message) back. Once a site's room page has pinged, the server watches it: after SILENT_S
# without a word HQ's consoles are told the site's link is silent (its tile says
# "connection lost"); heard again, they are told it is back and the record gets the gap
# (services.site_resumed). The server never drops a page for silence: a page that is only
# late (a busy PC, a background tab whose timers are throttled) keeps everything, and a
# page whose link is really cut gives its socket up itself and comes back on a new one
# (its old attendance row is closed then). Dropping for silence churned connections on
# loaded machines (docs/live.md, "Heartbeat").
SILENT_S = 3.5
WATCH_EVERY_S = 0.5
# Heard again after a silence, a socket is counted back only if it is still open this long
# after: a page that gave the socket up during a cut closed it, and that close comes right
# behind the pings it had queued when the link returns (recording those as a resume split
# the record twice for one cut: seen in the 15 s cut test).
RESUME_SETTLE_S = 1.0


class TokenBucket:
    """RATE_PER_SECOND on average, RATE_BURST at once; `take` says whether one may pass."""

    def __init__(self, rate: float = RATE_PER_SECOND, burst: float = RATE_BURST) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text}")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"not a number: {name}")


def _depth_ok(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether brackets nest no deeper than `limit` (outside strings), checked before
    parsing: deep nesting would exhaust Python's recursion in json.loads."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def parse_message(text: str) -> dict[str, Any]:
    """A control message, or Refused(BAD_VALUE/OVER_LIMIT) saying what is wrong with it."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise Refused(
            OVER_LIMIT,
            _("message too long: %(size)d characters (at most %(limit)d)")
            % {"size": len(text), "limit": MAX_MESSAGE_CHARS},
        )
    if not _depth_ok(text):
        raise Refused(
            BAD_VALUE, _("message nested too deeply (at most %(limit)d)") % {"limit": MAX_DEPTH}
        )
    try:
        message = json.loads(text, parse_float=_finite, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise Refused(BAD_VALUE, _("invalid JSON: %(error)s") % {"error": exc}) from exc
    if not isinstance(message, dict):
        raise Refused(BAD_VALUE, _("a message must be a JSON object"))
    return message


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
    expiry: asyncio.TimerHandle | None = None
    groups_joined: list[str] = []
    revoked = False  # closed by the server: messages still queued are not acted on
    flooding = 0  # messages refused for the rate
    heard = 0.0  # time.monotonic() of the last message from the page
    silent_since: datetime | None = None  # HQ was told the page fell silent then
    busy = False  # a message of the page is being handled
    resuming: asyncio.Future[None] | None = None
    watchdog: asyncio.Task[None] | None = None
    gone = False  # its attendance is closed and its groups left (silent, then disconnected)
    beat: asyncio.Task[None] | None = None  # the sequence heartbeat (live/seqbeat.py)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bucket = TokenBucket()
        self.patience = TokenBucket(rate=1.0, burst=FLOOD_LIMIT)

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        meeting_id, role = int(kwargs["meeting_id"]), kwargs["role"]
        admitted = await database_sync_to_async(admit)(self.scope, meeting_id, role)
        await self.accept()
        if not isinstance(admitted, Admission):
            await self.close(code=admitted)
            return
        self.actor = actor = admitted.actor
        self.group = services.group_name(meeting_id)
        # The groups a revocation reaches this socket through (live/revoke.py).
        self.groups_joined = [self.group]
        if actor.hq and actor.user is not None:
            self.groups_joined.append(revoke.user_group(actor.user.pk))
            self.groups_joined.append(revoke.hq_group(meeting_id))
        elif actor.site_id is not None:
            self.groups_joined.append(revoke.site_group(meeting_id, actor.site_id))
            self.groups_joined.append(revoke.meeting_sites_group(meeting_id))
        session = self.scope.get("session")
        if session is not None and session.session_key:
            self.groups_joined.append(revoke.session_group(session.session_key))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        if admitted.until is not None:
            # The link expires while the page is open: the socket closes then.
            delay = max(0.0, admitted.until - time.time())
            self.expiry = asyncio.get_running_loop().call_later(
                delay, lambda: asyncio.ensure_future(self.close(code=revoke.CLOSE_REVOKED))
            )
        if self.actor.site_id is not None and not self.actor.voter:
            _event, self.attendance_id = await database_sync_to_async(services.site_connected)(
                self.actor
            )
        await self._send_snapshot()
        self.beat = asyncio.ensure_future(self._beat(meeting_id))

    async def _beat(self, meeting_id: int) -> None:
        """Every seqbeat.BEAT_S, the meeting's current seq: a page that missed the last
        event (its channel was full) learns it and asks for a snapshot. The first beat
        comes after 1-1.5 beats, so that the sockets of a join burst do not beat together.

        Each beat also joins the socket's groups again (idempotent): the in-memory layer
        silently takes a consumer whose queue held a message past its expiry out of every
        group (BENCHMARKS.md, control plane), and such a page would otherwise only ever
        catch up by snapshot."""
        await asyncio.sleep(seqbeat.BEAT_S * (1 + random.random() / 2))
        while not (self.gone or self.revoked):
            for group in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
            await self.send(
                text_data=json.dumps({"type": "seq", "seq": await seqbeat.current(meeting_id)})
            )
            await asyncio.sleep(seqbeat.BEAT_S)

    async def disconnect(self, code: int) -> None:
        if self.beat is not None:
            self.beat.cancel()
        if self.watchdog is not None and self.watchdog is not asyncio.current_task():
            self.watchdog.cancel()
        await self._leave(dropped=code not in (1000, 1001))

    async def _leave(self, *, dropped: bool) -> None:
        """Leave the groups and close the attendance row: once, whichever comes first (the
        socket's disconnect, or the watchdog calling a silent page dropped)."""
        if self.actor is None or self.gone:
            return
        self.gone = True
        if self.silent_since is not None:
            # HQ's tile follows the record from now on (dropped, or left).
            self.silent_since = None
            await self._tell_hq_silent(False)
        if self.expiry is not None:
            self.expiry.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.attendance_id is not None:
            # 1000/1001: the page was closed or reloaded; anything else is a dropped link.
            await database_sync_to_async(services.site_disconnected)(
                self.actor, self.attendance_id, dropped=dropped
            )
            # A site no longer connected may not publish: Janus kicks its feeds.
            self._enforce_audio_soon()
            if not self.actor.hq:
                media_policy.forget_link(self.actor)

    async def live_close(self, event: dict[str, Any]) -> None:
        """A revocation (live/revoke.py): this socket's link, account or session is done."""
        self.revoked = True
        await self.close(code=int(event["code"]))

    async def _watch(self) -> None:
        """Watch a site's room page that pings: silent (HQ told), back, or dropped."""
        woke = time.monotonic()
        while not self.gone:
            await asyncio.sleep(WATCH_EVERY_S)
            now = time.monotonic()
            late, woke = now - woke - WATCH_EVERY_S, now
            if late > 1.0:
                # This process was held up (a loaded machine): what the page sent meanwhile
                # may still wait to be read. The silence counts from now.
                self.heard = max(self.heard, now - WATCH_EVERY_S)
                continue
            if self.busy:
                # A request of this page is still being worked on (the database's one
                # thread may be queued up): the page is talking, this process is slow.
                self.heard = max(self.heard, now - WATCH_EVERY_S)
                continue
            quiet = now - self.heard
            if quiet > SILENT_S and self.silent_since is None:
                self.silent_since = timezone.now() - timedelta(seconds=quiet)
                await self._tell_hq_silent(True)

    async def _heard_again(self) -> None:
        """The page spoke after a silence that HQ was told of: back, and the gap recorded."""
        since, self.silent_since = self.silent_since, None
        heard_at = timezone.now()
        await asyncio.sleep(RESUME_SETTLE_S)
        if self.actor is None or since is None or self.attendance_id is None or self.gone:
            return  # closed meanwhile: _leave told HQ and closed the row
        _event, self.attendance_id = await database_sync_to_async(services.site_resumed)(
            self.actor, self.attendance_id, since, heard_at
        )
        await self._tell_hq_silent(False)

    async def _tell_hq_silent(self, silent: bool) -> None:
        assert self.actor is not None
        await self.channel_layer.group_send(
            revoke.hq_group(self.actor.meeting_id),
            {"type": "live.link_silent", "site": self.actor.site_id, "silent": silent},
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        actor = self.actor
        if actor is None or self.revoked:
            return
        self.heard = time.monotonic()
        if self.silent_since is not None and not self.gone:
            # Recorded beside, not in the way of this message (the database may be slow).
            self.resuming = asyncio.ensure_future(self._heard_again())
        self.busy = True
        try:
            await self._handle(actor, text_data)
        finally:
            self.busy = False

    async def _handle(self, actor: Actor, text_data: str | None) -> None:
        if not self.bucket.take():
            # Flooding: refused without being read; a page that keeps on is closed.
            self.flooding += 1
            if not self.patience.take():
                log.warning("closing a flooding control socket of %s", actor)
                self.revoked = True
                await self.close(code=CLOSE_ABUSE)
            elif self.flooding == 1 or self.flooding % 10 == 0:
                await self._reply(
                    {
                        "type": "error",
                        "code": OVER_LIMIT,
                        "message": _("too many messages: slow down"),
                    }
                )
            return
        try:
            if text_data is None:
                raise Refused(BAD_VALUE, _("a message must be text (JSON)"))
            message = parse_message(text_data)
        except Refused as exc:
            await self._reply({"type": "error", "code": exc.code, "message": str(exc)})
            return
        kind = str(message.get("type", ""))
        ref = message.get("ref")
        if not (ref is None or (isinstance(ref, int | str) and len(str(ref)) <= 64)):
            ref = None  # replies echo the ref: a huge one is not sent back
        try:
            if kind == "ping":
                # The heartbeat: answered at once, nothing else done. A site's room page
                # that pings is watched from then on (older pages and tools are not).
                await self._reply({"type": "pong", "ref": ref})
                if self.watchdog is None and self.attendance_id is not None:
                    self.watchdog = asyncio.ensure_future(self._watch())
            elif kind == "snapshot":
                await self._send_snapshot()
            elif kind == "media.access":
                # The database part on a worker thread, the Janus part on the Janus link:
                # a burst of sites joining queues on neither the sync thread nor this loop.
                access = await media_policy.aaccess_for(
                    actor, _request_host(self.scope), self.attendance_id
                )
                await self._reply({"type": "media.access", "ref": ref, **access})
            elif kind == "media.published":
                # Its mute applied in Janus first, then its camera named to the pages.
                if actor.voter or actor.site_id is None:
                    raise Refused(NOT_ALLOWED, _("This connection does not publish."))
                # On a worker thread of its own (Janus is asked twice): not the sync thread.
                await sync_to_async(media_policy.published, thread_sensitive=False)(
                    actor, self.attendance_id
                )
            elif kind == "quality":
                # Ephemeral: relayed to HQ's consoles only, not recorded, no sequence number.
                if actor.voter or actor.site_id is None:
                    raise Refused(NOT_ALLOWED, _("only a site's page reports its link quality"))
                quality = linkpolicy.read_quality(message)
                await self.channel_layer.group_send(
                    revoke.hq_group(actor.meeting_id),
                    {"type": "live.quality", "site": actor.site_id, "quality": quality.relayed()},
                )
                if quality.down is not None and not actor.hq:
                    # The site's layers follow what its page receives (HQ's consoles are
                    # left out: several may act for the main site, each on its own link).
                    report = linkpolicy.Report(time.monotonic(), quality.down, quality.interval_ms)
                    await media_policy.alink_report(actor, report)
            elif kind == "media.status":
                # Ephemeral, like quality: HQ's wall shows each site's devices and problem.
                if actor.hq or actor.voter or actor.site_id is None:
                    raise Refused(
                        NOT_ALLOWED, _("only a site's room page reports its media status")
                    )
                await self.channel_layer.group_send(
                    revoke.hq_group(actor.meeting_id),
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
        if self.actor is not None and isinstance(event.get("seq"), int):
            seqbeat.seen(self.actor.meeting_id, event["seq"])
        await self.send(text_data=event["text"])

    async def live_quality(self, event: dict[str, Any]) -> None:
        if self.actor is not None and self.actor.hq:
            await self._reply({"type": "quality", "site": event["site"], **event["quality"]})

    async def live_link_silent(self, event: dict[str, Any]) -> None:
        if self.actor is not None and self.actor.hq:
            await self._reply({"type": "link", "site": event["site"], "silent": event["silent"]})

    async def live_media_status(self, event: dict[str, Any]) -> None:
        if self.actor is not None and self.actor.hq:
            await self._reply({"type": "media_status", "site": event["site"], **event["status"]})

    async def _send_snapshot(self) -> None:
        assert self.actor is not None
        snap = await database_sync_to_async(services.snapshot)(self.actor.meeting_id)
        voted = await database_sync_to_async(services.voted_in_open_vote)(self.actor)
        snap["you"] = {
            "site": self.actor.site_id,
            "hq": self.actor.hq,
            "chair": self.actor.chair,
            "voted": voted,
        }
        await self._reply(snap)

    async def _reply(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, ensure_ascii=False))

    def _enforce_audio_soon(self) -> None:
        """Tell Janus whose audio passes, without holding up this connection."""
        assert self.actor is not None
        media_policy.enforcement.soon(self.actor.meeting_id)
