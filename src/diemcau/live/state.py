"""The meeting state as clients see it, built from the database in one place.

Events carry *sections* of this state (e.g. ``{"floor": ..., "queue": [...]}``); a client
merges them into its copy. A snapshot is all sections. Both are built here so that what a
client holds after any sequence of events equals a fresh snapshot.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from diemcau.live import linkpolicy
from diemcau.live.models import (
    Attendance,
    ChatMessage,
    Counting,
    FloorRequest,
    FloorStatus,
    LiveState,
    Motion,
    RollCall,
)
from diemcau.meetings.models import Meeting
from diemcau.sfu.feeds import CAMERA, SCREEN

SECTIONS = (
    "meeting",
    "sites",
    "presence",
    "main_source",
    "floor",
    "queue",
    "mics",
    "roll_call",
    "announcement",
    "screen",
    "feeds",
    "links",
    "chat",
    "vote",
)


def audio_open(state: LiveState, site_id: int) -> bool:
    """Whose microphone is open: the floor, the main source, HQ (the chair must always be
    heard, also when a branch is the main source) and sites the chair allowed, unless the
    chair muted them."""
    if site_id in state.muted:
        return False
    return (
        site_id in (state.floor_id, state.main_source_id, state.meeting.main_site_id)
        or site_id in state.open_mics
    )


def build(state: LiveState, names: tuple[str, ...] | list[str] = SECTIONS) -> dict[str, Any]:
    meeting = state.meeting
    out: dict[str, Any] = {}
    for name in names:
        out[name] = BUILDERS[name](state, meeting)
    return out


def _meeting(state: LiveState, meeting: Meeting) -> dict[str, Any]:
    return {
        "id": meeting.pk,
        "title": meeting.title,
        "status": meeting.status,
        "main_site": meeting.main_site_id,
    }


def _sites(state: LiveState, meeting: Meeting) -> list[dict[str, Any]]:
    return [
        {
            "id": inv.site_id,
            "code": inv.site.code,
            "name": inv.site.name,
            "expected": inv.site.expected_delegates,
            "main": inv.site_id == meeting.main_site_id,
        }
        for inv in meeting.invitations.select_related("site").order_by("site__code")
    ]


def _presence(state: LiveState, meeting: Meeting) -> dict[str, str]:
    """Per site: connected, reconnecting (dropped, not back yet), left, or absent."""
    status: dict[str, str] = {}
    for row in Attendance.objects.filter(meeting=meeting).order_by("joined_at", "pk"):
        if row.left_at is None:
            status[str(row.site_id)] = "connected"
        else:
            status[str(row.site_id)] = "reconnecting" if row.left_reason == "dropped" else "left"
    # An open row wins over closed ones, whatever the order.
    for site_id in Attendance.objects.filter(meeting=meeting, left_at__isnull=True).values_list(
        "site_id", flat=True
    ):
        status[str(site_id)] = "connected"
    return status


def _main_source(state: LiveState, meeting: Meeting) -> int | None:
    return state.main_source_id


def _floor(state: LiveState, meeting: Meeting) -> dict[str, Any] | None:
    turn = (
        FloorRequest.objects.filter(meeting=meeting, status=FloorStatus.GRANTED)
        .order_by("-granted_at")
        .first()
    )
    if state.floor_id is None:
        return None
    return {
        "site": state.floor_id,
        "topic": turn.topic if turn and turn.site_id == state.floor_id else "",
        "since": _iso(turn.granted_at) if turn and turn.site_id == state.floor_id else None,
    }


def _queue(state: LiveState, meeting: Meeting) -> list[dict[str, Any]]:
    return [
        {"id": r.pk, "site": r.site_id, "topic": r.topic, "at": _iso(r.requested_at)}
        for r in FloorRequest.objects.filter(meeting=meeting, status=FloorStatus.WAITING).order_by(
            "requested_at", "pk"
        )
    ]


def _mics(state: LiveState, meeting: Meeting) -> dict[str, Any]:
    site_ids = list(meeting.invitations.values_list("site_id", flat=True))
    return {
        "open": sorted(s for s in site_ids if audio_open(state, s)),
        "muted": sorted(state.muted),
    }


def _roll_call(state: LiveState, meeting: Meeting) -> dict[str, Any] | None:
    roll = RollCall.objects.filter(meeting=meeting).order_by("-number").first()
    if roll is None:
        return None
    answers = {str(a.site_id): a.delegates_present for a in roll.answers.all()}
    # Answers far above a site's expected delegates, waiting for HQ: shown, never counted.
    held = {str(a.site_id): a.delegates_present for a in roll.held.all()}
    invited = list(meeting.invitations.select_related("site"))
    return {
        "id": roll.pk,
        "number": roll.number,
        "open": roll.closed_at is None,
        "opened_at": _iso(roll.opened_at),
        "answers": answers,
        "held": held,
        "totals": {
            "sites_present": len(answers),
            "sites_invited": len(invited),
            "delegates_present": sum(answers.values()),
            "delegates_expected": sum(inv.site.expected_delegates for inv in invited),
        },
        "count": RollCall.objects.filter(meeting=meeting).count(),
    }


def _announcement(state: LiveState, meeting: Meeting) -> str:
    return state.announcement


def _screen(state: LiveState, meeting: Meeting) -> dict[str, Any] | None:
    if state.screen_share_id is None:
        return None
    mine = state.feeds.get(str(state.screen_share_id)) or {}
    return {"site": state.screen_share_id, "feed": mine.get(SCREEN)}


def _feeds(state: LiveState, meeting: Meeting) -> dict[str, int]:
    """Each site's camera feed id, once it is ready (Janus has it, its mute applied)."""
    return {
        site: entry[CAMERA] for site, entry in sorted(state.feeds.items()) if entry.get("ready")
    }


def _links(state: LiveState, meeting: Meeting) -> dict[str, dict[str, Any]]:
    """The layers of each site not simply on the top layer by the automatic policy."""
    out = {}
    for site, stored in sorted(state.links.items()):
        entry = linkpolicy.effective(stored)
        if entry is not None:
            out[site] = entry
    return out


def _chat(state: LiveState, meeting: Meeting) -> list[dict[str, Any]]:
    recent = (
        ChatMessage.objects.filter(meeting=meeting)
        .select_related("author")
        .order_by("-sent_at", "-pk")[:50]
    )
    return [chat_item(m) for m in reversed(list(recent))]


def _vote(state: LiveState, meeting: Meeting) -> dict[str, Any] | None:
    """The latest vote. A named vote shows its totals live and which site chose what; a
    secret one, while open, only how many have voted (a running tally next to the list of
    who voted would tell, event by event, what each site chose), then its totals."""
    from diemcau.live.services import vote_result

    motion = Motion.objects.filter(meeting=meeting).order_by("-number").first()
    if motion is None:
        return None
    ballots = list(motion.ballots.all())
    result = motion.result if motion.closed_at else vote_result(motion)
    hidden = motion.secret and motion.closed_at is None
    if hidden and result is not None:
        result = {key: result[key] for key in ("cast", "eligible", "sites_voted")} | {
            "tally": None,
            "quorum": None,
            "adopted": None,
        }
    return {
        "id": motion.pk,
        "number": motion.number,
        "text": motion.text,
        "options": motion.options,
        "counting": motion.counting,
        "secret": motion.secret,
        "quorum_percent": motion.quorum_percent,
        "majority_percent": motion.majority_percent,
        "open": motion.closed_at is None,
        # A page learns that it has voted from its own reply (and `you` in its snapshot).
        "voted": None if hidden else sorted({b.site_id for b in ballots}),
        # Who chose what: named votes by a site (room) only; individual choices stay private.
        "ballots": None
        if motion.secret or motion.counting == Counting.INDIVIDUAL
        else {str(b.site_id): b.counts for b in ballots},
        "result": result,
        "count": Motion.objects.filter(meeting=meeting).count(),
    }


def chat_item(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "site": message.site_id,
        "author": message.author.get_full_name() or message.author.get_username()
        if message.author
        else "",
        "text": message.text,
        "announcement": message.announcement,
        "at": _iso(message.sent_at),
    }


def _iso(value: Any) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


BUILDERS = {
    "meeting": _meeting,
    "sites": _sites,
    "presence": _presence,
    "main_source": _main_source,
    "floor": _floor,
    "queue": _queue,
    "mics": _mics,
    "roll_call": _roll_call,
    "announcement": _announcement,
    "screen": _screen,
    "feeds": _feeds,
    "links": _links,
    "chat": _chat,
    "vote": _vote,
}
