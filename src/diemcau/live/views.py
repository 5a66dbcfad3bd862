"""The site room entry: a join link opens the room page for one site, without a password."""

from __future__ import annotations

import secrets
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from diemcau import config
from diemcau.accounts.permissions import (
    can_handle_voting_codes,
    can_manage_meetings,
    is_hq_staff,
    require,
)
from diemcau.directives.models import DirectiveRecipient
from diemcau.live import lifecycle, votingcodes
from diemcau.live.forms import AddCodesForm, VotingCodeForm
from diemcau.meetings import joinlinks
from diemcau.meetings.joinlinks import DELEGATE_KEY, SESSION_KEY
from diemcau.meetings.models import Invitation, Meeting, MeetingStatus
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
    joinlinks.remember(request.session, SESSION_KEY, invitation)
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
    mine = joinlinks.session_grant(request.session, meeting_id, DELEGATE_KEY)
    voter = mine.get("voter") if mine.get("site") == invitation.site_id else None
    joinlinks.remember(
        request.session,
        DELEGATE_KEY,
        invitation,
        voter=voter if isinstance(voter, str) else secrets.token_urlsafe(12),
    )
    return _delegate_page(request, invitation)


def _delegate_page(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    """The delegate's page, with the voting-code form until this phone has entered a code
    (docs/live.md, "Voting codes"). A QR code on the sheet only fills the form in: a link
    preview that fetches the URL must not take the code before its delegate does."""
    mine = (request.session.get(DELEGATE_KEY) or {}).get(str(invitation.meeting_id)) or {}
    voter = str(mine.get("voter") or "")
    form = VotingCodeForm(request.POST or None, initial={"code": request.GET.get("code", "")})
    if request.method == "POST" and form.is_valid() and voter:
        try:
            votingcodes.claim(invitation, form.cleaned_data["code"], voter)
        except votingcodes.VotingCodeError as exc:
            form.add_error("code", str(exc.message))
        else:
            return redirect(request.path)  # a reload does not send the form again
    code = votingcodes.code_of(invitation.meeting_id, voter)
    return render(
        request,
        "live/delegate.html",
        {
            "meeting": invitation.meeting,
            "site": invitation.site,
            "form": form,
            "code": code,
            "config": {
                "meeting": invitation.meeting_id,
                "site": invitation.site_id,
                # The number of this phone's voting code (None: it follows, it cannot vote).
                "code": code.number if code else None,
            },
        },
    )


@require_POST
@require(can_manage_meetings)
def meeting_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=pk)
    actions = {
        "start": (lifecycle.start_meeting, _("The meeting is live: its media room is open.")),
        "end": (lifecycle.end_meeting, _("The meeting has ended and its media room is closed.")),
        "cancel": (lifecycle.cancel_meeting, _("The meeting is cancelled.")),
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


# --- voting codes: the sheets and what HQ or the site's operator does with them ----------


def _codes_invitation(request: HttpRequest, pk: int, site_code: str) -> Invitation:
    invitation = get_object_or_404(
        Invitation.objects.select_related("meeting", "site"), meeting_id=pk, site__code=site_code
    )
    if not can_handle_voting_codes(request.user, invitation.site_id):
        raise PermissionDenied
    return invitation


def _qr(url: str) -> SafeString:
    # segno writes only the modules' path (the URL is not copied into the SVG as text).
    return mark_safe(segno.make_qr(url, error="m").svg_inline(scale=3, border=2))  # noqa: S308


def _sheet(request: HttpRequest, meeting: Meeting, invitations: list[Invitation]) -> HttpResponse:
    sheets = []
    for invitation in invitations:
        link = request.build_absolute_uri(joinlinks.delegate_path(invitation))
        cards = [
            (card, _qr(f"{link}?code={card.text}")) for card in votingcodes.codes_for(invitation)
        ]
        sheets.append({"invitation": invitation, "link": link, "cards": cards})
    return render(
        request,
        "live/voting_codes.html",
        {
            "meeting": meeting,
            "sheets": sheets,
            "add_form": AddCodesForm(),
            "single": len(invitations) == 1,
            "can_change": meeting.status in (MeetingStatus.SCHEDULED, MeetingStatus.LIVE),
        },
    )


@never_cache
@login_required
def voting_codes(request: HttpRequest, pk: int, site_code: str) -> HttpResponse:
    """One site's sheet of voting codes, to print and cut: a card per delegate."""
    invitation = _codes_invitation(request, pk, site_code)
    return _sheet(request, invitation.meeting, [invitation])


@never_cache
@require(is_hq_staff)
def voting_codes_all(request: HttpRequest, pk: int) -> HttpResponse:
    """Every invited site's sheet, one after the other (a page break between sites)."""
    meeting = get_object_or_404(Meeting, pk=pk)
    invitations = list(meeting.invitations.select_related("meeting", "site").order_by("site__code"))
    return _sheet(request, meeting, invitations)


@require_POST
@login_required
def voting_codes_add(request: HttpRequest, pk: int, site_code: str) -> HttpResponse:
    invitation = _codes_invitation(request, pk, site_code)
    form = AddCodesForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors.get("count", [])))
        return redirect("live:voting_codes", pk=pk, site_code=site_code)
    try:
        added = votingcodes.add_codes(invitation, form.cleaned_data["count"])
    except votingcodes.VotingCodeError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("%(n)d voting codes added: print them.") % {"n": added})
    return redirect("live:voting_codes", pk=pk, site_code=site_code)


@require_POST
@login_required
def voting_code_action(
    request: HttpRequest, pk: int, site_code: str, number: int, action: str
) -> HttpResponse:
    """Withdraw a code (its phone stops voting), or give its number a new code (a lost card,
    a phone that lost its session: the same voter, who does not vote twice)."""
    invitation = _codes_invitation(request, pk, site_code)
    done = {
        "revoke": (
            votingcodes.revoke,
            _("Voting code no. %(n)d is withdrawn: the phone using it can no longer vote."),
        ),
        "reissue": (
            votingcodes.reissue,
            _(
                "Voting code no. %(n)d has a new code (the old one no longer works): "
                "print its card again."
            ),
        ),
    }
    if action not in done:
        raise PermissionDenied
    change, message = done[action]
    try:
        change(invitation, number)
    except votingcodes.VotingCodeError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, message % {"n": number})
    return redirect("live:voting_codes", pk=pk, site_code=site_code)
