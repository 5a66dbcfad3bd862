"""An iCalendar (RFC 5545) file for one site's invitation."""

from __future__ import annotations

from datetime import UTC, datetime

from diemcau.front.notice import CaNotice
from diemcau.meetings.models import Invitation


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold at 75 octets without splitting a UTF-8 character (RFC 5545 §3.1)."""
    out: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode("utf-8"))
            current = b""
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n ".join(out)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def invitation_ics(
    invitation: Invitation, join_url: str, host: str, ca: CaNotice | None = None
) -> str:
    meeting = invitation.meeting
    # The CA comes first: without it the join link meets a certificate warning.
    ca_lines = (
        (
            f"Trước cuộc họp, cài chứng chỉ của máy chủ trên máy tính phòng họp: {ca.url} "
            f"(SHA-256 {ca.fingerprint})",
        )
        if ca
        else ()
    )
    description = "\n".join(
        part
        for part in (
            meeting.description,
            f"Điểm cầu: {invitation.site.name} ({invitation.site.code})",
            *ca_lines,
            f"Link tham gia: {join_url}",
        )
        if part
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Diem Cau//diemcau//VI",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:meeting-{meeting.pk}-site-{invitation.site.code}@{host}",
        f"DTSTAMP:{_utc(datetime.now(UTC))}",
        f"DTSTART:{_utc(meeting.start)}",
        f"DTEND:{_utc(meeting.end)}",
        f"SUMMARY:{_escape(meeting.title)}",
        f"DESCRIPTION:{_escape(description)}",
        f"LOCATION:{_escape(invitation.site.name)}",
        f"URL:{join_url}",
        "STATUS:" + ("CANCELLED" if meeting.status == "cancelled" else "CONFIRMED"),
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
