"""The site room entry: a join link opens the room page for one site, without a password."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from diemcau import config
from diemcau.accounts.permissions import can_manage_meetings, is_hq_staff, require
from diemcau.directives.models import DirectiveRecipient
from diemcau.live import lifecycle
from diemcau.meetings import joinlinks
from diemcau.meetings import services as meeting_services
from diemcau.meetings.joinlinks import DELEGATE_KEY, SESSION_KEY
from diemcau.meetings.models import Meeting
from diemcau.sfu import rooms


def media_config(request: HttpRequest) -> dict[str, Any]:
    """What the page's media problem panel tells people (static/live/problems.js): the
    secure address of this very page, where the CA is, and what the network must allow."""
    front = settings.FRONT
    host, _port = split_domain_port(request.get_host())
    host = host.removeprefix("[").removesuffix("]")
    return {
        "https_url": front.origin(host if host in front.names else None) + request.get_full_path(),
        "ca_url": front.ca_url,
        "https_port": front.https_port,
        "media_ip": config.primary_ip(),
        "rtp_ports": config.rtp_ports().text,
        # TCP ports of the TURN relay ("" when there is none): what a TCP-only network needs.
        "turn_ports": _turn_ports(),
    }


def _turn_ports() -> str:
    turn = settings.TURN
    if not turn.enabled:
        return ""
    return ", ".join(str(p) for p in (turn.port, turn.tls_port) if p)


def join(request: HttpRequest, meeting_id: int, site_code: str, token: str) -> HttpResponse:
    try:
        invitation = joinlinks.verify(token, meeting_id, site_code)
    except joinlinks.JoinLinkError as exc:
        return render(
            request,
            "live/join_refused.html",
            {"reason": exc.message, "code": exc.code},
            status=403,
        )
    # Remember, for this browser session only, which (meeting, site) the link opened: the
    # live page and its WebSocket act for this site and no other.
    joined = request.session.get(SESSION_KEY, {})
    joined[str(invitation.meeting_id)] = invitation.site_id
    request.session[SESSION_KEY] = joined
    meeting = invitation.meeting
    return render(
        request,
        "live/room.html",
        {
            "invitation": invitation,
            "meeting": meeting,
            "site": invitation.site,
            "config": {
                "meeting": meeting.pk,
                "site": invitation.site_id,
                **media_config(request),
            },
            # Directives this site has not confirmed, and those sent with this meeting.
            "directives": DirectiveRecipient.objects.filter(site=invitation.site)
            .filter(Q(acknowledged_at__isnull=True) | Q(directive__meeting=meeting))
            .select_related("directive"),
        },
    )


@require(is_hq_staff)
def console(request: HttpRequest, pk: int) -> HttpResponse:
    """The HQ console: chair and HQ operators run the live meeting from here."""
    meeting = get_object_or_404(Meeting.objects.select_related("main_site"), pk=pk)
    return render(
        request,
        "live/console.html",
        {
            "meeting": meeting,
            "config": {
                "meeting": meeting.pk,
                "site": meeting.main_site_id,
                **media_config(request),
            },
        },
    )


def delegate(request: HttpRequest, meeting_id: int, site_code: str, token: str) -> HttpResponse:
    """A delegate's phone: follows the meeting (banner, votes) and votes individually."""
    try:
        invitation = joinlinks.verify(token, meeting_id, site_code, salt=joinlinks.DELEGATE_SALT)
    except joinlinks.JoinLinkError as exc:
        return render(
            request, "live/join_refused.html", {"reason": exc.message, "code": exc.code}, status=403
        )
    delegates = request.session.get(DELEGATE_KEY, {})
    mine = delegates.get(str(meeting_id))
    if not mine or mine.get("site") != invitation.site_id:
        mine = {"site": invitation.site_id, "voter": secrets.token_urlsafe(12)}
    delegates[str(meeting_id)] = mine
    request.session[DELEGATE_KEY] = delegates
    return render(
        request,
        "live/delegate.html",
        {
            "meeting": invitation.meeting,
            "site": invitation.site,
            "config": {"meeting": meeting_id, "site": invitation.site_id},
        },
    )


@require_POST
@require(can_manage_meetings)
def meeting_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=pk)
    actions = {
        "start": (lifecycle.start_meeting, _("The meeting is live: its media room is open.")),
        "end": (lifecycle.end_meeting, _("The meeting has ended and its media room is closed.")),
        "cancel": (meeting_services.cancel_meeting, _("The meeting is cancelled.")),
    }
    if action not in actions:
        raise PermissionDenied
    service, done = actions[action]
    try:
        service(meeting, request.user)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except rooms.MediaUnavailable as exc:
        messages.error(
            request,
            _(
                "The media server (Janus) did not answer, so the meeting was not started: %(err)s. "
                "Check that `diemcau serve` is running, or run `diemcau doctor`."
            )
            % {"err": exc},
        )
    else:
        messages.success(request, done)
    if request.POST.get("next") == "console":
        return redirect("live:console", pk=pk)
    return redirect("meetings:detail", pk=pk)
