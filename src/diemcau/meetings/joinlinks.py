"""Signed join links: one per (meeting, site), expiring, revocable.

A link is `/join/<meeting>/<site code>/<token>/`. The token is signed with the installation's
secret over the meeting id, the site id, the invitation's nonce and an expiry time, so:
- it cannot be forged or edited (bad signature);
- it works only at the URL of its own meeting and site;
- it stops working after the meeting's end plus a grace period;
- giving the invitation a new nonce revokes every link handed out before.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from diemcau.meetings.models import Invitation, MeetingStatus

# What a verified link grants the browser's session (live/views.py stores them with
# `remember`, the control socket and the room PC's directive page read them with
# `session_invitation`, which checks the link again):
# the room PC: {meeting id: {"site": site id, "nonce": the link's nonce, "exp": expiry}}.
SESSION_KEY = "diemcau.joined"
# Delegates: the same, with "voter": a random key for this phone.
DELEGATE_KEY = "diemcau.delegate"

SALT = "diemcau.live.join"
# Delegates' links (a phone following the meeting and voting): a different salt, so a
# delegate's link can never open the room page, nor the reverse.
DELEGATE_SALT = "diemcau.live.delegate"


class JoinLinkError(Exception):
    """The link cannot be used; `message` tells the site operator what to do next."""

    def __init__(self, code: str, message: str | Promise) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def expiry_for(invitation: Invitation) -> datetime:
    return invitation.meeting.end + timedelta(seconds=settings.JOIN_LINK_GRACE_SECONDS)


def make_token(invitation: Invitation, salt: str = SALT) -> str:
    payload = {
        "m": invitation.meeting_id,
        "s": invitation.site_id,
        "n": invitation.nonce,
        "e": int(expiry_for(invitation).timestamp()),
    }
    return signing.dumps(payload, salt=salt)


def delegate_path(invitation: Invitation) -> str:
    return reverse(
        "live:delegate",
        kwargs={
            "meeting_id": invitation.meeting_id,
            "site_code": invitation.site.code,
            "token": make_token(invitation, DELEGATE_SALT),
        },
    )


def join_path(invitation: Invitation) -> str:
    return reverse(
        "live:join",
        kwargs={
            "meeting_id": invitation.meeting_id,
            "site_code": invitation.site.code,
            "token": make_token(invitation),
        },
    )


def verify(
    token: str, meeting_id: int, site_code: str, now: datetime | None = None, salt: str = SALT
) -> Invitation:
    """Return the invitation this token opens at this URL, or raise JoinLinkError."""
    try:
        payload = signing.loads(token, salt=salt)
    except signing.BadSignature as exc:
        raise JoinLinkError(
            "bad_signature",
            _(
                "This join link is damaged or was not issued by this server. "
                "Ask HQ for the link again."
            ),
        ) from exc
    if not isinstance(payload, dict) or payload.get("m") != meeting_id:
        raise JoinLinkError(
            "wrong_meeting",
            _("This join link belongs to another meeting. Ask HQ for this meeting's link."),
        )
    invitation = (
        Invitation.objects.select_related("meeting", "site", "meeting__main_site")
        .filter(meeting_id=meeting_id, site__code=site_code)
        .first()
    )
    if invitation is None or payload.get("s") != invitation.site_id:
        raise JoinLinkError(
            "wrong_site",
            _("This join link belongs to another site. Use the link sent to your site."),
        )
    if payload.get("n") != invitation.nonce:
        raise JoinLinkError(
            "revoked",
            _("This join link has been replaced by a newer one. Ask HQ for the current link."),
        )
    now = now or timezone.now()
    if now.timestamp() > float(payload.get("e", 0)):
        raise JoinLinkError("expired", _("This join link has expired: the meeting is over."))
    if invitation.meeting.status == MeetingStatus.CANCELLED:
        raise JoinLinkError("cancelled", _("This meeting has been cancelled."))
    return invitation


def remember(session: Any, key: str, invitation: Invitation, **extra: object) -> dict[str, Any]:
    """Store in the browser's session what a verified link opened: it keeps working only
    while that link would (`session_invitation`). Returns what was stored."""
    grants = dict(session.get(key) or {})
    grant = {
        "site": invitation.site_id,
        "nonce": invitation.nonce,
        "exp": int(expiry_for(invitation).timestamp()),
        **extra,
    }
    grants[str(invitation.meeting_id)] = grant
    session[key] = grants
    return grant


def session_grant(session: Mapping[str, Any] | None, meeting_id: int, key: str) -> dict[str, Any]:
    """What this session holds for the meeting (not checked: see `session_invitation`)."""
    grants = (session.get(key) if session is not None else None) or {}
    grant = grants.get(str(meeting_id)) if isinstance(grants, dict) else None
    return grant if isinstance(grant, dict) else {}


def session_invitation(
    session: Mapping[str, Any] | None,
    meeting_id: int,
    key: str = SESSION_KEY,
    now: datetime | None = None,
) -> tuple[Invitation, dict[str, Any]] | None:
    """The invitation a link opened in this browser session, and what was stored with it,
    if that link still works now: the site is still invited, the link was not replaced
    (revoked), it has not expired and the meeting was not cancelled. None otherwise."""
    grant = session_grant(session, meeting_id, key)
    site_id, nonce, exp = grant.get("site"), grant.get("nonce"), grant.get("exp")
    if not isinstance(site_id, int) or not isinstance(nonce, str) or not isinstance(exp, int):
        return None
    now = now or timezone.now()
    if now.timestamp() > exp:
        return None
    invitation = (
        Invitation.objects.select_related("meeting", "site")
        .filter(meeting_id=meeting_id, site_id=site_id, nonce=nonce)
        .first()
    )
    if invitation is None or invitation.meeting.status == MeetingStatus.CANCELLED:
        return None
    return invitation, grant
