"""Selectors (read only): the meeting's record, gathered from what the live meeting persisted,
as plain values.

Every join and leave, roll call, floor turn, vote and chat message was written to the
database when it happened, so this record is complete even after an app crash mid-meeting.
Times are formatted here once, the Vietnamese way (dd/mm/yyyy, 24 h, Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from diemcau.live import linkpolicy
from diemcau.live.models import (
    Attendance,
    ChatMessage,
    FloorRequest,
    FloorStatus,
    LinkChange,
    Motion,
    RollCall,
)
from diemcau.meetings.models import Meeting
from diemcau.orgs.models import Unit


def when(value: datetime | None, fmt: str = "%H:%M %d/%m/%Y") -> str:
    return timezone.localtime(value).strftime(fmt) if value else ""


def clock(value: datetime | None) -> str:
    return when(value, "%H:%M")


def issuing_body(meeting: Meeting) -> str:
    """The root of the main site's unit tree: the organisation that issues the minutes."""
    unit: Unit | None = meeting.main_site.unit
    while unit is not None and unit.parent_id is not None:
        unit = unit.parent
    return unit.name if unit else ""


def _overlap(spans: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> float:
    """Seconds of [start, end) inside any of `spans` (which do not overlap each other)."""
    return sum(max(0.0, (min(end, b) - max(start, a)).total_seconds()) for a, b in spans if a < end)


def link_quality(meeting: Meeting) -> list[dict[str, Any]]:
    """Per site that ran below the high layer while connected: how long (seconds), how
    long on audio only, and the worst layer it got (from `LinkChange`, live/linkpolicy.py).
    Sites that kept the high layer throughout are left out."""
    end = meeting.ended_at or timezone.now()
    connected: dict[int, list[tuple[datetime, datetime]]] = {}
    for row in Attendance.objects.filter(meeting=meeting).order_by("joined_at", "pk"):
        spans = connected.setdefault(row.site_id, [])
        start, stop = row.joined_at, row.left_at or end
        if spans and start < spans[-1][1]:  # an HQ console beside another: one span
            spans[-1] = (spans[-1][0], max(spans[-1][1], stop))
        else:
            spans.append((start, stop))
    changes: dict[int, list[LinkChange]] = {}
    for change in LinkChange.objects.filter(meeting=meeting).select_related("site"):
        changes.setdefault(change.site_id, []).append(change)
    out = []
    for site_id, mine in changes.items():
        spans = connected.get(site_id, [])
        degraded = audio = 0.0
        worst = linkpolicy.TOP
        for change, following in zip(mine, [*mine[1:], None], strict=True):
            stop = following.at if following is not None else end
            seconds = _overlap(spans, change.at, stop)
            if change.layer == linkpolicy.TOP or seconds <= 0:
                continue
            degraded += seconds
            if change.layer == linkpolicy.AUDIO:
                audio += seconds
            if linkpolicy.rung(change.layer) > linkpolicy.rung(worst):
                worst = change.layer
        if degraded > 0:
            site = mine[0].site
            out.append(
                {
                    "code": site.code,
                    "name": site.name,
                    "degraded_seconds": round(degraded),
                    "audio_seconds": round(audio),
                    "worst": worst,
                }
            )
    return sorted(out, key=lambda row: row["code"])


def build(meeting: Meeting) -> dict[str, Any]:
    invitations = list(meeting.invitations.select_related("site").order_by("site__code"))
    roll_calls = list(RollCall.objects.filter(meeting=meeting).prefetch_related("answers"))
    answers: dict[int, dict[int, int]] = {
        rc.number: {a.site_id: a.delegates_present for a in rc.answers.all()} for rc in roll_calls
    }
    rows = list(Attendance.objects.filter(meeting=meeting).order_by("joined_at", "pk"))
    sites = []
    for inv in invitations:
        mine = [r for r in rows if r.site_id == inv.site_id]
        site_answers = [answers[rc.number].get(inv.site_id) for rc in roll_calls]
        sites.append(
            {
                "code": inv.site.code,
                "name": inv.site.name,
                "main": inv.site_id == meeting.main_site_id,
                "expected": inv.site.expected_delegates,
                "present": bool(mine),
                "joined": clock(mine[0].joined_at) if mine else "",
                "left": clock(mine[-1].left_at) if mine and mine[-1].left_at else "",
                "connections": [
                    {"from": clock(r.joined_at), "to": clock(r.left_at), "how": r.left_reason}
                    for r in mine
                ],
                "delegates": site_answers,
            }
        )
    speakers = [
        {
            "site": f.site.name,
            "code": f.site.code,
            "topic": f.topic,
            "from": clock(f.granted_at),
            "to": clock(f.ended_at),
        }
        for f in FloorRequest.objects.filter(meeting=meeting, granted_at__isnull=False)
        .select_related("site")
        .order_by("granted_at")
    ]
    unanswered = [
        {"site": f.site.name, "topic": f.topic, "status": f.get_status_display()}
        for f in FloorRequest.objects.filter(meeting=meeting, granted_at__isnull=True)
        .exclude(status=FloorStatus.CANCELLED)
        .select_related("site")
    ]
    site_names = {inv.site_id: inv.site.name for inv in invitations}
    votes = []
    for motion in Motion.objects.filter(meeting=meeting).prefetch_related("ballots"):
        from diemcau.live.services import vote_result

        result = motion.result or vote_result(motion)
        votes.append(
            {
                "number": motion.number,
                "text": motion.text,
                "counting": motion.get_counting_display(),
                "secret": motion.secret,
                "options": motion.options,
                "tally": result["tally"],
                "cast": result["cast"],
                "eligible": result["eligible"],
                "sites_voted": result["sites_voted"],
                "quorum": result["quorum"],
                "adopted": result["adopted"],
                "closed": motion.closed_at is not None,
                "at": clock(motion.opened_at),
                "ballots": []
                if motion.secret
                else [
                    {"site": site_names.get(b.site_id, "?"), "counts": b.counts}
                    for b in motion.ballots.all()
                ],
            }
        )
    directives = [
        {
            "number": d.number,
            "title": d.title,
            "sent": d.recipients.count(),
            "acknowledged": d.recipients.filter(acknowledged_at__isnull=False).count(),
            "missing": [
                r.site.name
                for r in d.recipients.filter(acknowledged_at__isnull=True).select_related("site")
            ],
        }
        for d in meeting.directives.all()
    ]
    chat = [
        {
            "at": clock(m.sent_at),
            "who": site_names.get(m.site_id or 0) or (m.author.get_username() if m.author else ""),
            "text": m.text,
            "announcement": m.announcement,
        }
        for m in ChatMessage.objects.filter(meeting=meeting).select_related("author")
    ]
    roll_call_rows = []
    for rc in roll_calls:
        got = answers[rc.number]
        roll_call_rows.append(
            {
                "number": rc.number,
                "opened": clock(rc.opened_at),
                "closed": clock(rc.closed_at),
                "sites_present": len(got),
                "delegates_present": sum(got.values()),
            }
        )
    present = [s for s in sites if s["present"]]
    last_roll = roll_call_rows[-1] if roll_call_rows else None
    record_date = when(meeting.start, "%d/%m/%Y")
    return {
        "issuing_body": issuing_body(meeting),
        "place": meeting.main_site.province or meeting.main_site.name,
        "title": meeting.title,
        "kind": meeting.get_kind_display(),
        "format": meeting.get_format_display(),
        "date": when(meeting.start, "%d/%m/%Y"),
        "day": timezone.localtime(meeting.start).day,
        "month": timezone.localtime(meeting.start).month,
        "year": timezone.localtime(meeting.start).year,
        "scheduled": f"{clock(meeting.start)}–{clock(meeting.end)} {record_date}",
        "started": when(meeting.started_at),
        "ended": when(meeting.ended_at),
        "status": meeting.get_status_display(),
        "main_site": meeting.main_site.name,
        "agenda": [
            {"title": a.title, "presenter": a.presenter, "minutes": a.duration_minutes}
            for a in meeting.agenda.all()
        ],
        "sites": sites,
        "totals": {
            "invited": len(sites),
            "present": len(present),
            "absent": [s["name"] for s in sites if not s["present"]],
            "expected": sum(s["expected"] for s in sites),
            "delegates": last_roll["delegates_present"] if last_roll else None,
        },
        "roll_calls": roll_call_rows,
        "speakers": speakers,
        "unanswered": unanswered,
        "votes": votes,
        "directives": directives,
        "chat": chat,
        "links": link_quality(meeting),
    }
