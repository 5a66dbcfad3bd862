"""The only place that changes a live meeting and tells connected clients about it.

Each action runs in one transaction that locks the meeting's `LiveState` row (so concurrent
actions from several app processes are serialised), records what happened, increments the
sequence number and returns the event to broadcast. Broadcasting happens after commit, so a
client never sees a change that was rolled back. Who may do what, and when, is the table in
`live.actions`: every action starts with `_begin`, which checks it there (a refused action
raises `Refused` with a code, before anything changed). What an event carries is derived:
the state is built before and after the change and the sections that differ are sent.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.live import linkpolicy, revoke, votingcodes
from diemcau.live import state as live_state
from diemcau.live.actions import (
    ACTIONS,
    ALREADY_DONE,
    BAD_VALUE,
    NOT_ALLOWED,
    NOT_INVITED,
    NOT_NOW,
    OVER_LIMIT,
    Action,
)
from diemcau.live.actions import Actor as Actor
from diemcau.live.actions import Refused as Refused
from diemcau.live.models import (
    Attendance,
    Ballot,
    ChatMessage,
    Counting,
    FloorRequest,
    FloorStatus,
    HeldRollCallAnswer,
    LinkChange,
    LiveState,
    Motion,
    RollCall,
    RollCallAnswer,
)
from diemcau.meetings.models import Invitation, Meeting, MeetingStatus
from diemcau.orgs.models import Site
from diemcau.sfu.feeds import CAMERA, SCREEN, SLOTS, new_feed_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    meeting_id: int
    seq: int
    kind: str
    sections: dict[str, Any]
    extra: dict[str, Any]

    def message(self) -> str:
        """Serialised once, sent to every client as is."""
        return json.dumps(
            {
                "type": "event",
                "seq": self.seq,
                "kind": self.kind,
                "state": self.sections,
                **self.extra,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def group_name(meeting_id: int) -> str:
    return f"live.meeting.{meeting_id}"


def broadcast(event: Event) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        group_name(event.meeting_id),
        {"type": "live.event", "text": event.message(), "seq": event.seq},
    )


def _locked_state(meeting_id: int) -> LiveState:
    state, _created = LiveState.objects.get_or_create(
        meeting_id=meeting_id,
        defaults={
            "main_source_id": Meeting.objects.values_list("main_site_id", flat=True).get(
                pk=meeting_id
            )
        },
    )
    return LiveState.objects.select_for_update().select_related("meeting").get(pk=state.pk)


@dataclass
class _Change:
    """An action under way: the locked state, what it is, and the state pages hold now."""

    state: LiveState
    action: Action
    before: dict[str, Any]


def _begin(
    name: str,
    actor: Actor | None,
    meeting_id: int | None = None,
    sections: tuple[str, ...] = live_state.SECTIONS,
) -> _Change:
    """Lock the meeting and refuse the action unless the table allows it (docs/live.md).
    `sections`: the only ones the action can change, when it knows (a cheaper `before`)."""
    action = ACTIONS[name]
    state = _locked_state(actor.meeting_id if actor is not None else int(meeting_id or 0))
    action.check(actor, state.meeting.status)
    if (
        action.invited_only
        and actor is not None
        and actor.site_id is not None
        and not state.meeting.invitations.filter(site_id=actor.site_id).exists()
    ):
        # A page left open after its site's invitation was withdrawn acts for no one.
        raise Refused(NOT_INVITED, _("Your site is not invited to this meeting."))
    return _Change(state, action, live_state.build(state, sections))


def changed_sections(
    before: dict[str, Any], after: dict[str, Any], message: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The sections that differ. `chat` is left out when the new `message` (appended by
    every page, docs/live.md) explains the change."""
    out: dict[str, Any] = {}
    for name, value in after.items():
        if before.get(name) == value:
            continue
        if name == "chat" and message is not None and value == [*before[name], message][-50:]:
            continue
        out[name] = value
    return out


def _commit(change: _Change, **extra: Any) -> Event:
    state = change.state
    state.seq += 1
    state.save()
    after = live_state.build(state)
    sections = (
        after
        if change.action.everything
        else changed_sections(
            change.before, {k: after[k] for k in change.before}, extra.get("message")
        )
    )
    event = Event(state.meeting_id, state.seq, change.action.kind, sections, extra)
    version = (state.seq, state.meeting.created_at)

    def committed() -> None:
        # The state just built is the snapshot of this seq: pages connecting now get it.
        _snapshots[state.meeting_id] = (version, after)
        broadcast(event)

    transaction.on_commit(committed)
    return event


# The last snapshot built per meeting, by sequence number. A reconnect storm (an app server
# restarted, 1,500 delegates arriving) then builds the state once per change, not once per
# connection. Sections are absolute values, so a snapshot a little newer than its `seq`
# is harmless: the next event only sets the same values again.
_snapshots: dict[int, tuple[tuple[int, Any], dict[str, Any]]] = {}


def snapshot(meeting_id: int) -> dict[str, Any]:
    state = LiveState.objects.select_related("meeting").filter(meeting_id=meeting_id).first()
    if state is None:
        with transaction.atomic():
            state = _locked_state(meeting_id)
    # The creation time tells a meeting from an earlier one that had the same id.
    version = (state.seq, state.meeting.created_at)
    cached = _snapshots.get(meeting_id)
    if cached is None or cached[0] != version:
        cached = (version, live_state.build(state))
        _snapshots[meeting_id] = cached
    return {"type": "snapshot", "seq": state.seq, "state": cached[1]}


def _invited(state: LiveState, site_id: int) -> None:
    if not state.meeting.invitations.filter(site_id=site_id).exists():
        raise Refused(NOT_INVITED, _("That site is not invited to this meeting."))


def _site(actor: Actor) -> int:
    """The sender's own site (the table made sure it has one)."""
    if actor.site_id is None:
        raise Refused(NOT_ALLOWED, _("This connection does not act for a site."))
    return actor.site_id


# --- presence ---------------------------------------------------------------------------


@transaction.atomic
def site_connected(actor: Actor) -> tuple[Event, int]:
    """A site's page connected: open an attendance row (the gap since the last one shows)."""
    change = _begin("presence.connect", actor)
    site_id = _site(actor)
    now = timezone.now()
    if not actor.hq:
        # The site is back: a row still open from before belongs to a connection that died
        # without saying so (an app server that was killed). The room PC is one endpoint.
        Attendance.objects.filter(
            meeting_id=actor.meeting_id, site_id=site_id, left_at__isnull=True
        ).update(left_at=now, left_reason="dropped")
    row = Attendance.objects.create(meeting_id=actor.meeting_id, site_id=site_id, joined_at=now)
    return _commit(change), row.pk


@transaction.atomic
def site_disconnected(actor: Actor, attendance_id: int, *, dropped: bool) -> Event:
    change = _begin("presence.disconnect", actor)
    state = change.state
    Attendance.objects.filter(pk=attendance_id, left_at__isnull=True).update(
        left_at=timezone.now(), left_reason="dropped" if dropped else "left"
    )
    if not actor.hq and state.screen_share_id == actor.site_id:
        # A site's shared screen goes with its page.
        state.screen_share_id = None
    entry = state.feeds.get(str(actor.site_id))
    if entry is not None and entry.get("conn") == attendance_id:
        # Its publisher ids go with it (Janus kicks what still uses them).
        state.feeds = {k: v for k, v in state.feeds.items() if k != str(actor.site_id)}
        if state.screen_share_id == actor.site_id:
            state.screen_share_id = None
    return _commit(change)


@transaction.atomic
def site_resumed(
    actor: Actor, attendance_id: int, silent_since: datetime, heard_at: datetime | None = None
) -> tuple[Event, int]:
    """A site's page that fell silent (a cut of its link, live/consumers.py's heartbeat) is
    heard again on the same socket before it was dropped: the record gets the gap (the row
    closes at `silent_since` as dropped, a new one opens when it was heard again, `heard_at`,
    default now) while nothing else changes — its feed ids move to the new row, so Janus
    kicks nothing and the media goes on."""
    change = _begin("presence.connect", actor)
    now = min(heard_at, timezone.now()) if heard_at is not None else timezone.now()
    newer = Attendance.objects.filter(
        meeting_id=actor.meeting_id, site_id=_site(actor), left_at__isnull=True
    ).exclude(pk=attendance_id)
    if newer.exists() or not Attendance.objects.filter(pk=attendance_id).exists():
        # The page came back on a new socket meanwhile (the old row is closed): this old one
        # records nothing more.
        return _commit(change), attendance_id
    Attendance.objects.filter(pk=attendance_id, left_at__isnull=True).update(
        left_at=min(silent_since, now), left_reason="dropped"
    )
    row = Attendance.objects.create(
        meeting_id=actor.meeting_id, site_id=_site(actor), joined_at=now
    )
    entry = change.state.feeds.get(str(actor.site_id))
    if entry is not None and entry.get("conn") == attendance_id:
        change.state.feeds = {**change.state.feeds, str(actor.site_id): {**entry, "conn": row.pk}}
    return _commit(change), row.pk


# --- publishers' feed ids (sfu/feeds.py) -------------------------------------------------


# What issuing or naming feed ids can change: a join burst builds only these first.
FEED_SECTIONS = ("feeds", "screen")


@dataclass(frozen=True)
class Feeds:
    """The publisher ids issued to one connection of a site."""

    camera: int
    screen: int
    replaced: tuple[int, ...]  # the ids of the site's connection before (to be kicked)


def _commit_if_changed(change: _Change) -> Event | None:
    """Commit as an event if pages would see a difference; otherwise only save (no seq)."""
    if changed_sections(change.before, live_state.build(change.state, tuple(change.before))):
        return _commit(change)
    change.state.save()
    return None


@transaction.atomic
def issue_feeds(actor: Actor, connection: int | None) -> Feeds:
    """Fresh random ids for this connection's camera and screen. The site's ids from
    before stop being allowed (Janus kicks their publishers) and its camera is no longer
    named to pages until the new one is published (`feeds_published`)."""
    change = _begin("media.access", actor, sections=FEED_SECTIONS)
    site_id = _site(actor)
    state = change.state
    old = state.feeds.get(str(site_id)) or {}
    camera, screen = new_feed_id(), new_feed_id()
    state.feeds = {
        **state.feeds,
        str(site_id): {CAMERA: camera, SCREEN: screen, "conn": connection, "ready": False},
    }
    if old and state.screen_share_id == site_id:
        state.screen_share_id = None  # the share was the connection before's
    _commit_if_changed(change)
    return Feeds(camera, screen, tuple(int(old[slot]) for slot in SLOTS if slot in old))


@transaction.atomic
def feeds_published(actor: Actor, connection: int | None, published: set[int]) -> Event | None:
    """The connection's camera is in Janus (`published`: the room's publisher ids) and the
    site's mute has been applied to it: name it to the pages."""
    change = _begin("media.published", actor, sections=FEED_SECTIONS)
    site_id = _site(actor)
    state = change.state
    entry = state.feeds.get(str(site_id))
    if entry is None or entry.get("conn") != connection or entry[CAMERA] not in published:
        raise Refused(
            NOT_NOW, _("Janus does not have this page's camera yet: publish it, then report.")
        )
    if entry.get("ready"):
        return None
    state.feeds = {**state.feeds, str(site_id): {**entry, "ready": True}}
    return _commit(change)


def feeds_of(meeting_id: int, site_id: int) -> tuple[int, ...]:
    """The publisher ids issued to the site's current connection (none: none issued)."""
    entry = (
        LiveState.objects.filter(meeting_id=meeting_id).values_list("feeds", flat=True).first()
        or {}
    ).get(str(site_id)) or {}
    return tuple(int(entry[slot]) for slot in SLOTS if slot in entry)


# --- the layers each site receives (live/linkpolicy.py) -----------------------------------


# What a layer decision can change: a decision builds only this before the change.
LINK_SECTIONS = ("links",)


def auto_link_of(meeting_id: int, site_id: int) -> str:
    """The layer the automatic policy last chose for the site (a new tracker starts there)."""
    stored = (
        LiveState.objects.filter(meeting_id=meeting_id).values_list("links", flat=True).first()
        or {}
    ).get(str(site_id)) or {}
    layer = (stored.get("auto") or {}).get("layer", linkpolicy.TOP)
    return layer if layer in linkpolicy.LAYERS else linkpolicy.TOP


def _now_iso() -> str:
    return timezone.localtime(timezone.now()).isoformat()


def _set_link(state: LiveState, site_id: int, part: str, value: dict[str, Any] | None) -> None:
    """Store one part (auto, pin, weak) of the site's layers and record what pages will see
    if it changed (`LinkChange`, for the minutes). A site back to defaults is dropped."""
    key = str(site_id)
    before = state.links.get(key) or {}
    after = {**before, part: value}
    after = {name: v for name, v in after.items() if v}
    old, new = linkpolicy.effective(before), linkpolicy.effective(after)
    state.links = {k: v for k, v in state.links.items() if k != key} | (
        {key: after} if after else {}
    )

    def shown(entry: dict[str, Any] | None) -> tuple[str, str, str]:
        if entry is None:
            return linkpolicy.TOP, linkpolicy.AUTO, linkpolicy.RECOVERED
        return entry["layer"], entry["by"], entry["reason"]

    if shown(old) != shown(new):
        layer, by, reason = shown(new)
        LinkChange.objects.create(
            meeting_id=state.meeting_id,
            site_id=site_id,
            at=timezone.now(),
            layer=layer,
            by=by,
            reason=reason,
        )


@transaction.atomic
def link_decided(actor: Actor, decision: linkpolicy.Decision) -> Event | None:
    """The automatic policy changed its choice for the sender's site (its page's reports,
    `media_policy.link_report`). An event only if pages see a difference: under a pin or
    weak-link mode the new layer may not show, and is kept for when they are lifted."""
    change = _begin("link.auto", actor, sections=LINK_SECTIONS)
    site_id = _site(actor)
    if decision.layer not in linkpolicy.LAYERS:
        raise Refused(BAD_VALUE, _("Unknown layer %(value)s.") % {"value": repr(decision.layer)})
    auto = None
    if decision.layer != linkpolicy.TOP:
        auto = {
            "layer": decision.layer,
            "reason": decision.reason,
            "kbps": decision.kbps,
            "loss": decision.loss,
            "since": _now_iso(),
        }
    _set_link(change.state, site_id, "auto", auto)
    return _commit_if_changed(change)


@transaction.atomic
def pin_link(actor: Actor, site_id: int, layer: Any) -> Event:
    """HQ holds a site on one layer (`None`: back to the automatic choice)."""
    change = _begin("link.pin", actor, sections=LINK_SECTIONS)
    _invited(change.state, site_id)
    if layer is not None and (not isinstance(layer, str) or layer not in linkpolicy.LAYERS):
        raise Refused(
            BAD_VALUE,
            _("%(field)s must be in %(allowed)s or null (got %(value)s)")
            % {"field": "'layer'", "allowed": list(linkpolicy.LADDER), "value": repr(layer)},
        )
    current = (change.state.links.get(str(site_id)) or {}).get("pin")
    if layer is None:
        pin = None
    elif current and current["layer"] == layer:
        pin = current  # pinned there already: since stays
    else:
        pin = {"layer": layer, "since": _now_iso()}
    _set_link(change.state, site_id, "pin", pin)
    return _commit(change)


@transaction.atomic
def set_weak_link(actor: Actor, on: bool) -> Event:
    """The site's own weak-link mode: at most the low layer until it is turned off."""
    change = _begin("link.weak", actor, sections=LINK_SECTIONS)
    site_id = _site(actor)
    current = (change.state.links.get(str(site_id)) or {}).get("weak")
    weak = (current or {"since": _now_iso()}) if on else None
    _set_link(change.state, site_id, "weak", weak)
    return _commit(change)


# --- floor ------------------------------------------------------------------------------


@transaction.atomic
def request_floor(actor: Actor, topic: str = "") -> Event:
    change = _begin("floor.request", actor)
    site_id = _site(actor)
    if change.state.floor_id == site_id:
        raise Refused(ALREADY_DONE, _("Your site already has the floor."))
    if FloorRequest.objects.filter(
        meeting_id=actor.meeting_id, site_id=site_id, status=FloorStatus.WAITING
    ).exists():
        raise Refused(ALREADY_DONE, _("Your site is already waiting for the floor."))
    FloorRequest.objects.create(
        meeting_id=actor.meeting_id,
        site_id=site_id,
        topic=_typed(topic)[:300] if isinstance(topic, str) else "",
        requested_at=timezone.now(),
    )
    return _commit(change)


@transaction.atomic
def cancel_floor_request(actor: Actor) -> Event:
    change = _begin("floor.cancel", actor)
    changed = FloorRequest.objects.filter(
        meeting_id=actor.meeting_id, site_id=_site(actor), status=FloorStatus.WAITING
    ).update(status=FloorStatus.CANCELLED, ended_at=timezone.now())
    if not changed:
        raise Refused(NOT_NOW, _("Your site has no request waiting."))
    return _commit(change)


def _end_turn(state: LiveState, now: Any) -> None:
    FloorRequest.objects.filter(
        meeting_id=state.meeting_id, status=FloorStatus.GRANTED, ended_at__isnull=True
    ).update(status=FloorStatus.DONE, ended_at=now)
    state.floor_id = None


@transaction.atomic
def grant_floor(actor: Actor, request_id: int | None = None, site_id: int | None = None) -> Event:
    """Give the floor to a waiting request (or directly to a site): its mic opens, its
    video is shown beside the main source. The previous speaker's turn ends."""
    change = _begin("floor.grant", actor)
    state = change.state
    now = timezone.now()
    if request_id is not None:
        request = FloorRequest.objects.filter(
            pk=request_id, meeting_id=actor.meeting_id, status=FloorStatus.WAITING
        ).first()
        if request is None:
            raise Refused(NOT_NOW, _("That request is no longer waiting."))
    elif site_id is not None:
        _invited(state, site_id)
        # The site may be waiting in the queue: its turn keeps the topic it gave.
        request = FloorRequest.objects.filter(
            meeting_id=actor.meeting_id, site_id=site_id, status=FloorStatus.WAITING
        ).first() or FloorRequest(meeting_id=actor.meeting_id, site_id=site_id, requested_at=None)
    else:
        raise Refused(BAD_VALUE, _("Say which request or site gets the floor."))
    _end_turn(state, now)
    request.status = FloorStatus.GRANTED
    request.granted_at = now
    request.decided_by = actor.user
    request.save()
    state.floor_id = request.site_id
    # Giving the floor lifts an explicit mute: the chair wants to hear this site.
    state.muted = [s for s in state.muted if s != request.site_id]
    return _commit(change)


@transaction.atomic
def decline_floor(actor: Actor, request_id: int) -> Event:
    change = _begin("floor.decline", actor)
    changed = FloorRequest.objects.filter(
        pk=request_id, meeting_id=actor.meeting_id, status=FloorStatus.WAITING
    ).update(status=FloorStatus.DECLINED, ended_at=timezone.now(), decided_by=actor.user)
    if not changed:
        raise Refused(NOT_NOW, _("That request is no longer waiting."))
    return _commit(change, request=request_id)


@transaction.atomic
def take_back_floor(actor: Actor) -> Event:
    change = _begin("floor.take_back", actor)
    state = change.state
    if state.floor_id is None:
        raise Refused(NOT_NOW, _("Nobody has the floor."))
    _end_turn(state, timezone.now())
    if state.screen_share_id is not None and state.screen_share_id != state.meeting.main_site_id:
        state.screen_share_id = None
    return _commit(change)


# --- microphones ------------------------------------------------------------------------


@transaction.atomic
def set_mute(actor: Actor, site_id: int, mute: bool) -> Event:
    """Mute a site (enforced in Janus), or open its microphone outside the floor."""
    change = _begin("mute", actor)
    state = change.state
    _invited(state, site_id)
    muted = set(state.muted)
    opened = set(state.open_mics)
    if mute:
        muted.add(site_id)
        opened.discard(site_id)
    else:
        muted.discard(site_id)
        if site_id not in (state.floor_id, state.main_source_id):
            opened.add(site_id)
    state.muted, state.open_mics = sorted(muted), sorted(opened)
    return _commit(change)


@transaction.atomic
def mute_all(actor: Actor) -> Event:
    """Close every microphone except the main source's and HQ's."""
    change = _begin("mute.all", actor)
    state = change.state
    site_ids = set(state.meeting.invitations.values_list("site_id", flat=True))
    state.open_mics = []
    state.muted = sorted(site_ids - {state.main_source_id, state.meeting.main_site_id})
    return _commit(change)


# --- main source and screen share ---------------------------------------------------------


@transaction.atomic
def set_main_source(actor: Actor, site_id: int | None) -> Event:
    """Show a site full screen everywhere (HQ when `site_id` is None)."""
    change = _begin("main_source.set", actor)
    state = change.state
    target = site_id or state.meeting.main_site_id
    _invited(state, target)
    state.main_source_id = target
    state.muted = [s for s in state.muted if s != target]
    return _commit(change)


@transaction.atomic
def set_screen_share(actor: Actor, sharing: bool) -> Event:
    """HQ, or the site holding the floor, starts or stops sharing its screen."""
    change = _begin("screen.set", actor)
    state = change.state
    site_id = _site(actor)
    if not actor.hq and state.floor_id != site_id:
        raise Refused(NOT_ALLOWED, _("Only HQ or the site holding the floor may share a screen."))
    if sharing:
        state.screen_share_id = site_id
    elif state.screen_share_id == site_id or (actor.hq and actor.chair):
        state.screen_share_id = None
    return _commit(change)


# --- roll call --------------------------------------------------------------------------


@transaction.atomic
def open_roll_call(actor: Actor) -> Event:
    change = _begin("roll_call.open", actor)
    now = timezone.now()
    RollCall.objects.filter(meeting_id=actor.meeting_id, closed_at__isnull=True).update(
        closed_at=now
    )
    number = RollCall.objects.filter(meeting_id=actor.meeting_id).count() + 1
    RollCall.objects.create(
        meeting_id=actor.meeting_id, number=number, opened_at=now, opened_by=actor.user
    )
    return _commit(change)


@transaction.atomic
def close_roll_call(actor: Actor) -> Event:
    change = _begin("roll_call.close", actor)
    changed = RollCall.objects.filter(meeting_id=actor.meeting_id, closed_at__isnull=True).update(
        closed_at=timezone.now()
    )
    if not changed:
        raise Refused(NOT_NOW, _("No roll call is open."))
    return _commit(change)


MAX_DELEGATES_PER_SITE = 10_000


def roll_call_limit(expected: int) -> int:
    """The most delegates a site may report without HQ confirming it: half again its
    expected delegates, or 5 more, whichever is higher (a room of 2 may well hold 7; a
    room of 20 answering 10,000 is a typo or worse). docs/live.md, "Roll call"."""
    return max(math.ceil(expected * 1.5), expected + 5)


@transaction.atomic
def answer_roll_call(actor: Actor, delegates: int) -> Event:
    """A site confirms presence with the number of delegates in its room (may correct it).
    A number above `roll_call_limit` is held for HQ to confirm, and counts nowhere until
    then (the site's earlier answer, if any, still does)."""
    change = _begin("roll_call.answer", actor)
    site_id = _site(actor)
    if (
        not isinstance(delegates, int)
        or isinstance(delegates, bool)
        or not (0 <= delegates <= MAX_DELEGATES_PER_SITE)
    ):
        raise Refused(
            BAD_VALUE,
            _("The number of delegates must be a whole number from 0 to %(max)d (got %(value)s).")
            % {"max": MAX_DELEGATES_PER_SITE, "value": delegates},
        )
    roll = RollCall.objects.filter(meeting_id=actor.meeting_id, closed_at__isnull=True).first()
    if roll is None:
        raise Refused(NOT_NOW, _("No roll call is open."))
    _not_below_votes_cast(actor.meeting_id, site_id, delegates)
    now = timezone.now()
    expected = Site.objects.values_list("expected_delegates", flat=True).get(pk=site_id)
    answer = RollCallAnswer.objects.filter(roll_call=roll, site_id=site_id).first()
    # HQ confirmed this very number already: sending it again needs no new confirmation.
    confirmed = answer is not None and answer.delegates_present == delegates
    if delegates > roll_call_limit(expected) and not confirmed:
        HeldRollCallAnswer.objects.update_or_create(
            roll_call=roll,
            site_id=site_id,
            defaults={"delegates_present": delegates, "answered_at": now},
        )
    else:
        HeldRollCallAnswer.objects.filter(roll_call=roll, site_id=site_id).delete()
        if not confirmed:
            RollCallAnswer.objects.update_or_create(
                roll_call=roll,
                site_id=site_id,
                defaults={"delegates_present": delegates, "answered_at": now, "confirmed_by": None},
            )
    return _commit(change)


@transaction.atomic
def confirm_roll_call(actor: Actor, site_id: int, accept: bool) -> Event:
    """HQ decides on a site's answer held in the latest roll call (open or just closed):
    accepted, it becomes the site's answer; rejected, the site's earlier answer stands."""
    change = _begin("roll_call.confirm", actor)
    roll = RollCall.objects.filter(meeting_id=actor.meeting_id).order_by("-number").first()
    held = (
        HeldRollCallAnswer.objects.filter(roll_call=roll, site_id=site_id).first()
        if roll is not None
        else None
    )
    if roll is None or held is None:
        raise Refused(
            NOT_NOW,
            _("No answer of that site is waiting for confirmation (site %(site)s).")
            % {"site": site_id},
        )
    if accept:
        _not_below_votes_cast(actor.meeting_id, site_id, held.delegates_present)
        RollCallAnswer.objects.update_or_create(
            roll_call=roll,
            site_id=site_id,
            defaults={
                "delegates_present": held.delegates_present,
                "answered_at": held.answered_at,
                "confirmed_by": actor.user,
            },
        )
    held.delete()
    return _commit(change)


def _not_below_votes_cast(meeting_id: int, site_id: int, delegates: int) -> None:
    cast = _votes_cast(meeting_id, site_id)
    if delegates < cast:
        # Votes are limited to delegates present: the count cannot drop below those cast.
        raise Refused(
            OVER_LIMIT,
            _(
                "Your site has cast %(cast)d votes in the open vote: "
                "the number of delegates present cannot be lower (got %(value)d)."
            )
            % {"cast": cast, "value": delegates},
        )


# --- announcements and chat ---------------------------------------------------------------


MAX_TEXT = 2000

# Control characters a person cannot have meant to type (all C0 but tab and line feed, and
# DEL). PostgreSQL cannot store "\x00" at all: one in a chat message was a server error.
# Word's line and page breaks (vertical tab, form feed) and carriage returns are line feeds.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f]")
_BREAKS = re.compile("\r\n|[\r\x0b\x0c]")


def _typed(text: str) -> str:
    """What a page typed, as we keep it: line breaks as line feeds, control characters out."""
    return _CONTROLS.sub("", _BREAKS.sub("\n", text)).strip()


def _clean_text(text: Any) -> str:
    if isinstance(text, str):
        text = _typed(text)
    if not isinstance(text, str) or not text:
        raise Refused(BAD_VALUE, _("The message is empty."))
    if len(text) > MAX_TEXT:
        raise Refused(
            BAD_VALUE, _("The message is longer than %(max)d characters.") % {"max": MAX_TEXT}
        )
    return text


@transaction.atomic
def announce(actor: Actor, text: str) -> Event:
    """A banner on every site (empty text clears it); kept in the chat record."""
    change = _begin("announce", actor)
    state = change.state
    state.announcement = _typed(text)[:MAX_TEXT] if isinstance(text, str) else ""
    message = None
    if state.announcement:
        message = ChatMessage.objects.create(
            meeting_id=actor.meeting_id,
            site_id=actor.site_id,
            author=actor.user,
            text=state.announcement,
            announcement=True,
            sent_at=timezone.now(),
        )
    extra = {"message": live_state.chat_item(message)} if message else {}
    return _commit(change, **extra)


@transaction.atomic
def send_chat(actor: Actor, text: str) -> Event:
    change = _begin("chat.send", actor)
    clean = _clean_text(text)
    message = ChatMessage.objects.create(
        meeting_id=actor.meeting_id,
        site_id=actor.site_id,
        author=actor.user if actor.hq else None,
        text=clean,
        sent_at=timezone.now(),
    )
    return _commit(change, message=live_state.chat_item(message))


# --- meeting lifecycle hooks ------------------------------------------------------------


@transaction.atomic
def meeting_status_changed(meeting_id: int) -> Event:
    """Called by meetings.services after start/end: tell every page. An ended meeting's
    record is closed too: the open vote (with its result), the floor turn, the queue, the
    roll call, the screen share and the attendance rows."""
    change = _begin("meeting.status", None, meeting_id)
    state = change.state
    if state.meeting.status == MeetingStatus.ENDED:
        now = timezone.now()
        Attendance.objects.filter(meeting_id=meeting_id, left_at__isnull=True).update(
            left_at=now, left_reason="ended"
        )
        _end_turn(state, now)
        FloorRequest.objects.filter(meeting_id=meeting_id, status=FloorStatus.WAITING).update(
            status=FloorStatus.CANCELLED, ended_at=now
        )
        state.screen_share_id = None
        state.feeds = {}
        RollCall.objects.filter(meeting_id=meeting_id, closed_at__isnull=True).update(closed_at=now)
        for motion in Motion.objects.filter(meeting_id=meeting_id, closed_at__isnull=True):
            _close(motion, now)
    return _commit(change)


@contextmanager
def meeting_edited(meeting_id: int | None) -> Iterator[None]:
    """meetings.services edits a meeting inside this block; pages that follow it are told
    what changed (title, invited sites and what depends on them), in one event."""
    if meeting_id is None or not LiveState.objects.filter(meeting_id=meeting_id).exists():
        yield  # a new meeting, or one no page has opened: nothing to tell
        return
    with transaction.atomic():
        change = _begin("meeting.edit", None, meeting_id)
        links = dict(
            Invitation.objects.filter(meeting_id=meeting_id).values_list("site_id", "nonce")
        )
        yield
        change.state = state = _locked_state(meeting_id)  # the meeting row changed
        invited = set(state.meeting.invitations.values_list("site_id", flat=True))
        # A site withdrawn: its pages and phones are closed, its feeds kicked.
        for site_id in set(links) - invited:
            entry = state.feeds.get(str(site_id)) or {}
            revoke.site_removed(
                meeting_id,
                site_id,
                links[site_id],
                tuple(int(entry[slot]) for slot in SLOTS if slot in entry),
            )
        state.feeds = {k: v for k, v in state.feeds.items() if int(k) in invited}
        state.links = {k: v for k, v in state.links.items() if int(k) in invited}
        # What pointed at a site no longer invited falls back to HQ or ends.
        if state.main_source_id not in invited:
            state.main_source_id = state.meeting.main_site_id
        if state.floor_id is not None and state.floor_id not in invited:
            _end_turn(state, timezone.now())
        if state.screen_share_id is not None and state.screen_share_id not in invited:
            state.screen_share_id = None
        state.muted = [s for s in state.muted if s in invited]
        state.open_mics = [s for s in state.open_mics if s in invited]
        FloorRequest.objects.filter(meeting_id=meeting_id, status=FloorStatus.WAITING).exclude(
            site_id__in=invited
        ).update(status=FloorStatus.CANCELLED, ended_at=timezone.now())
        if changed_sections(change.before, live_state.build(state)):
            _commit(change)


# --- votes (biểu quyết) -------------------------------------------------------------------


def default_options() -> list[str]:
    return [_("Agree"), _("Disagree"), _("Abstain")]


@transaction.atomic
def open_vote(
    actor: Actor,
    text: str,
    options: list[str] | None = None,
    counting: str = Counting.PER_SITE,
    secret: bool = False,
    quorum_percent: int = 50,
    majority_percent: int = 50,
) -> Event:
    change = _begin("vote.open", actor)
    text = _clean_text(text)
    choices = [
        _typed(o)[:100] for o in (options or default_options()) if isinstance(o, str) and _typed(o)
    ]
    if len(choices) < 2 or len(set(choices)) != len(choices):
        raise Refused(BAD_VALUE, _("Give at least two different options."))
    if counting not in Counting.values:
        raise Refused(BAD_VALUE, _("Unknown way of counting: %(value)s.") % {"value": counting})
    for name, value in ((_("Quorum"), quorum_percent), (_("Majority"), majority_percent)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise Refused(
                BAD_VALUE,
                _("%(name)s must be a percentage from 0 to 100 (got %(value)s).")
                % {"name": name, "value": value},
            )
    if Motion.objects.filter(meeting_id=actor.meeting_id, closed_at__isnull=True).exists():
        raise Refused(NOT_NOW, _("Close the open vote first."))
    Motion.objects.create(
        meeting_id=actor.meeting_id,
        number=Motion.objects.filter(meeting_id=actor.meeting_id).count() + 1,
        text=text,
        options=choices,
        counting=counting,
        secret=secret,
        quorum_percent=quorum_percent,
        majority_percent=majority_percent,
        opened_at=timezone.now(),
        opened_by=actor.user,
    )
    return _commit(change)


def delegates_present(meeting_id: int, site_id: int) -> int | None:
    """The site's delegates at its latest roll-call answer (None if it never answered)."""
    return delegates_present_by_site(meeting_id).get(site_id)


def delegates_present_by_site(meeting_id: int) -> dict[int, int]:
    """Each site's delegates at its latest roll-call answer (sites that answered)."""
    present: dict[int, int] = {}
    for site_id, n in (
        RollCallAnswer.objects.filter(roll_call__meeting_id=meeting_id)
        .order_by("roll_call__number")
        .values_list("site_id", "delegates_present")
    ):
        present[site_id] = n  # a later roll call overrides
    return present


@transaction.atomic
def cast_vote(actor: Actor, choice: Any = None, counts: Any = None) -> Event:
    """A site votes: one choice (per site), or its room's count per option (per delegate),
    never more than the delegates it reported present. Once, and only for itself."""
    change = _begin("vote.cast", actor)
    site_id = _site(actor)
    motion = Motion.objects.filter(meeting_id=actor.meeting_id, closed_at__isnull=True).first()
    if motion is None:
        raise Refused(NOT_NOW, _("No vote is open."))
    _invited(change.state, site_id)
    if motion.counting == Counting.INDIVIDUAL:
        return _cast_individual(change, motion, actor, site_id, choice)
    if actor.voter:
        raise Refused(
            NOT_ALLOWED, _("In this vote each site votes from its room, not from phones.")
        )
    if Ballot.objects.filter(motion=motion, site_id=site_id).exists():
        raise Refused(ALREADY_DONE, _("Your site has already voted."))
    if motion.counting == Counting.PER_SITE:
        if choice not in motion.options:
            raise Refused(
                BAD_VALUE, _("Choose one of the options (got %(value)s).") % {"value": choice}
            )
        tally = {choice: 1}
    else:
        if not isinstance(counts, dict) or set(counts) - set(motion.options):
            raise Refused(BAD_VALUE, _("Give a number for each option."))
        tally = {}
        for option in motion.options:
            value = counts.get(option, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise Refused(
                    BAD_VALUE,
                    _("“%(option)s”: a whole number of delegates, 0 or more (got %(value)s).")
                    % {"option": option, "value": value},
                )
            tally[option] = value
        present = delegates_present(actor.meeting_id, site_id)
        if present is None:
            raise Refused(
                NOT_NOW, _("Answer the roll call first: votes are limited to delegates present.")
            )
        if sum(tally.values()) > present:
            raise Refused(
                OVER_LIMIT,
                _(
                    "%(total)d votes is more than the %(present)d delegates "
                    "your site reported present."
                )
                % {"total": sum(tally.values()), "present": present},
            )
    Ballot.objects.create(motion=motion, site_id=site_id, counts=tally, cast_at=timezone.now())
    return _commit(change)


def _cast_individual(
    change: _Change, motion: Motion, actor: Actor, site_id: int, choice: Any
) -> Event:
    """One delegate, one vote: a phone votes with the voting code it entered (one code, one
    ballot, whatever phone it is used on); a site's delegates together never cast more
    votes than the delegates it reported present."""
    if not actor.voter:
        raise Refused(NOT_ALLOWED, _("In this vote delegates vote from their own phones."))
    code = votingcodes.code_of(actor.meeting_id, actor.voter)
    if code is None or code.site_id != site_id:
        raise Refused(
            NOT_ALLOWED,
            _(
                "This phone has no valid voting code: enter the code on your card. If it was "
                "withdrawn, ask your site's operator for a new one."
            ),
        )
    if choice not in motion.options:
        raise Refused(
            BAD_VALUE, _("Choose one of the options (got %(value)s).") % {"value": choice}
        )
    key = votingcodes.ballot_key(motion.pk, code)
    if Ballot.objects.filter(motion=motion, voter=key).exists():
        raise Refused(
            ALREADY_DONE,
            _("Voting code no. %(n)d has already voted in this vote.") % {"n": code.number},
        )
    present = delegates_present(actor.meeting_id, site_id)
    if present is None:
        raise Refused(NOT_NOW, _("Your site has not answered the roll call yet: wait for it."))
    if Ballot.objects.filter(motion=motion, site_id=site_id).count() >= present:
        raise Refused(
            OVER_LIMIT,
            _("Your site's %(present)d delegates present have all voted.") % {"present": present},
        )
    Ballot.objects.create(
        motion=motion,
        site_id=site_id,
        voter=key,
        counts={choice: 1},
        cast_at=timezone.now(),
    )
    return _commit(change)


def voted_in_open_vote(actor: Actor) -> int | None:
    """The open vote's id if this page (its site, or this delegate's voting code) has voted
    in it: a secret ballot does not tell pages who has voted, so each is told about itself."""
    motion = Motion.objects.filter(meeting_id=actor.meeting_id, closed_at__isnull=True).first()
    if motion is None or actor.site_id is None:
        return None
    if actor.voter:
        code = votingcodes.code_of(actor.meeting_id, actor.voter)
        if code is None:
            return None
        mine = motion.ballots.filter(voter=votingcodes.ballot_key(motion.pk, code))
    else:
        mine = motion.ballots.filter(site_id=actor.site_id, voter="")
    return motion.pk if mine.exists() else None


def vote_result(motion: Motion) -> dict[str, Any]:
    tally = {option: 0 for option in motion.options}
    for ballot in motion.ballots.all():
        for option, n in ballot.counts.items():
            tally[option] = tally.get(option, 0) + int(n)
    cast = sum(tally.values())
    if motion.counting == Counting.PER_SITE:
        eligible = motion.meeting.invitations.count()
        sites_voted = motion.ballots.count()
    else:
        present = delegates_present_by_site(motion.meeting_id)
        eligible = sum(
            present.get(site_id, 0)
            for site_id in motion.meeting.invitations.values_list("site_id", flat=True)
        )
        sites_voted = motion.ballots.values("site_id").distinct().count()
    quorum = eligible > 0 and cast * 100 >= motion.quorum_percent * eligible
    first = motion.options[0]
    return {
        "tally": tally,
        "cast": cast,
        "eligible": eligible,
        "sites_voted": sites_voted,
        "quorum": quorum,
        "adopted": bool(quorum and tally[first] * 100 > motion.majority_percent * cast),
    }


def _votes_cast(meeting_id: int, site_id: int) -> int:
    """The site's votes in the open vote, where votes count delegates (0 otherwise)."""
    motion = Motion.objects.filter(meeting_id=meeting_id, closed_at__isnull=True).first()
    if motion is None or motion.counting == Counting.PER_SITE:
        return 0
    return sum(
        sum(int(n) for n in ballot.counts.values())
        for ballot in motion.ballots.filter(site_id=site_id)
    )


def _close(motion: Motion, now: Any) -> None:
    motion.closed_at = now
    motion.result = vote_result(motion)
    motion.save(update_fields=["closed_at", "result"])


@transaction.atomic
def close_vote(actor: Actor) -> Event:
    change = _begin("vote.close", actor)
    motion = Motion.objects.filter(meeting_id=actor.meeting_id, closed_at__isnull=True).first()
    if motion is None:
        raise Refused(NOT_NOW, _("No vote is open."))
    _close(motion, timezone.now())
    return _commit(change)
