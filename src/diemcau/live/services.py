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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

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
    LiveState,
    Motion,
    RollCall,
    RollCallAnswer,
)
from diemcau.meetings.models import Meeting, MeetingStatus

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
        group_name(event.meeting_id), {"type": "live.event", "text": event.message()}
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


def _begin(name: str, actor: Actor | None, meeting_id: int | None = None) -> _Change:
    """Lock the meeting and refuse the action unless the table allows it (docs/live.md)."""
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
    return _Change(state, action, live_state.build(state))


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
        else changed_sections(change.before, after, extra.get("message"))
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
        topic=topic.strip()[:300],
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


@transaction.atomic
def answer_roll_call(actor: Actor, delegates: int) -> Event:
    """A site confirms presence with the number of delegates in its room (may correct it)."""
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
    cast = _votes_cast(actor.meeting_id, site_id)
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
    RollCallAnswer.objects.update_or_create(
        roll_call=roll,
        site_id=site_id,
        defaults={"delegates_present": delegates, "answered_at": timezone.now()},
    )
    return _commit(change)


# --- announcements and chat ---------------------------------------------------------------


MAX_TEXT = 2000


def _clean_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise Refused(BAD_VALUE, _("The message is empty."))
    if len(text) > MAX_TEXT:
        raise Refused(
            BAD_VALUE, _("The message is longer than %(max)d characters.") % {"max": MAX_TEXT}
        )
    return text.strip()


@transaction.atomic
def announce(actor: Actor, text: str) -> Event:
    """A banner on every site (empty text clears it); kept in the chat record."""
    change = _begin("announce", actor)
    state = change.state
    state.announcement = text.strip()[:MAX_TEXT] if isinstance(text, str) else ""
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
        yield
        change.state = state = _locked_state(meeting_id)  # the meeting row changed
        invited = set(state.meeting.invitations.values_list("site_id", flat=True))
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
        o.strip()[:100] for o in (options or default_options()) if isinstance(o, str) and o.strip()
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
    """One delegate, one vote, from their own link; a site's delegates together never cast
    more votes than the delegates it reported present."""
    if not actor.voter:
        raise Refused(NOT_ALLOWED, _("In this vote delegates vote from their own phones."))
    if choice not in motion.options:
        raise Refused(
            BAD_VALUE, _("Choose one of the options (got %(value)s).") % {"value": choice}
        )
    if Ballot.objects.filter(motion=motion, voter=actor.voter).exists():
        raise Refused(ALREADY_DONE, _("You have already voted."))
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
        voter=actor.voter,
        counts={choice: 1},
        cast_at=timezone.now(),
    )
    return _commit(change)


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
