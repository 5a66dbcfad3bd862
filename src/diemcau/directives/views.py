"""Directives (văn bản chỉ đạo): HQ sends, sites acknowledge, HQ follows up."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from diemcau.accounts.models import Role, User
from diemcau.accounts.permissions import can_manage_meetings, is_hq_staff, require
from diemcau.directives import services
from diemcau.directives.forms import DirectiveForm
from diemcau.directives.models import Directive, DirectiveRecipient
from diemcau.meetings import joinlinks
from diemcau.meetings import services as meeting_services


@login_required
def directive_list(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    if is_hq_staff(user):
        directives = Directive.objects.annotate(
            sent=Count("recipients"),
            acknowledged=Count("recipients", filter=Q(recipients__acknowledged_at__isnull=False)),
        ).select_related("meeting")
        return render(
            request,
            "directives/directives.html",
            {"directives": directives, "can_manage": can_manage_meetings(user)},
        )
    received = DirectiveRecipient.objects.filter(site_id=user.site_id or 0).select_related(
        "directive", "directive__meeting"
    )
    return render(request, "directives/directives_site.html", {"received": received})


@require(can_manage_meetings)
def directive_create(request: HttpRequest) -> HttpResponse:
    form = DirectiveForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        sites = meeting_services.invited_sites(
            all_sites=data["send_all"], units=data["units"], sites=data["sites"]
        )
        try:
            directive = services.issue_directive(
                title=data["title"],
                number=data["number"],
                body=data["body"],
                upload=data["file"],
                meeting=data["meeting"],
                sites=sites,
                by=cast(User, request.user),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            count = directive.recipients.count()
            messages.success(
                request,
                ngettext("Sent to %(n)d site.", "Sent to %(n)d sites.", count) % {"n": count},
            )
            return redirect("directives:directive", pk=directive.pk)
    return render(request, "directives/directive_form.html", {"form": form})


def _recipient_for(user: User, directive: Directive) -> DirectiveRecipient | None:
    return directive.recipients.filter(site_id=user.site_id or 0).first()


@login_required
def directive_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = cast(User, request.user)
    directive = get_object_or_404(Directive.objects.select_related("meeting", "issued_by"), pk=pk)
    if is_hq_staff(user):
        return render(
            request,
            "directives/directive_detail.html",
            {
                "directive": directive,
                "recipients": directive.recipients.select_related("site", "acknowledged_by"),
                "can_manage": can_manage_meetings(user),
            },
        )
    mine = _recipient_for(user, directive)
    if mine is None:
        raise Http404
    return render(
        request,
        "directives/directive_detail.html",
        {"directive": directive, "mine": mine, "can_confirm": user.role == Role.SITE_OPERATOR},
    )


@require_POST
@login_required
def directive_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    user = cast(User, request.user)
    directive = get_object_or_404(Directive, pk=pk)
    mine = _recipient_for(user, directive)
    # A site's receipt is its operator's to confirm (or the room PC's): a delegate reads.
    if mine is None or user.role != Role.SITE_OPERATOR:
        raise PermissionDenied
    services.acknowledge_directive(mine, user)
    messages.success(request, _("Receipt confirmed. HQ can see it."))
    return redirect("directives:directive", pk=pk)


def _room_recipient(request: HttpRequest, meeting_id: int, pk: int) -> DirectiveRecipient:
    """The room PC (opened from a join link, no account) acts for its own site only."""
    opened = joinlinks.session_invitation(request.session, meeting_id)
    recipient = get_object_or_404(DirectiveRecipient.objects.select_related("directive"), pk=pk)
    if opened is None or recipient.site_id != opened[0].site_id:
        raise PermissionDenied
    return recipient


@require_POST
def directive_acknowledge_from_room(request: HttpRequest, meeting_id: int, pk: int) -> HttpResponse:
    services.acknowledge_directive(_room_recipient(request, meeting_id, pk), None)
    return HttpResponse(status=204)


def directive_file_from_room(request: HttpRequest, meeting_id: int, pk: int) -> FileResponse:
    directive = _room_recipient(request, meeting_id, pk).directive
    if not directive.file:
        raise Http404
    return FileResponse(
        directive.file.open("rb"),
        as_attachment=True,
        filename=directive.original_name or "directive",
    )


@require_POST
@require(can_manage_meetings)
def directive_remind(request: HttpRequest, pk: int) -> HttpResponse:
    directive = get_object_or_404(Directive, pk=pk)
    count = services.remind_directive(directive)
    messages.success(
        request,
        ngettext(
            "Reminder shown to %(n)d site that has not confirmed.",
            "Reminder shown to %(n)d sites that have not confirmed.",
            count,
        )
        % {"n": count},
    )
    return redirect("directives:directive", pk=pk)


@login_required
def directive_file(request: HttpRequest, pk: int) -> FileResponse:
    user = cast(User, request.user)
    directive = get_object_or_404(Directive, pk=pk)
    if not is_hq_staff(user) and _recipient_for(user, directive) is None:
        raise Http404
    if not directive.file:
        raise Http404
    return FileResponse(
        directive.file.open("rb"),
        as_attachment=True,
        filename=directive.original_name or "directive",
    )
