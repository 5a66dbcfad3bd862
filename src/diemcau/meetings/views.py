from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from diemcau.accounts.models import User
from diemcau.accounts.permissions import (
    can_manage_meetings,
    can_see_join_link,
    is_hq_staff,
    require,
)
from diemcau.front.notice import ca_notice
from diemcau.meetings import joinlinks, services
from diemcau.meetings.forms import DocumentForm, MeetingForm
from diemcau.meetings.ics import invitation_ics
from diemcau.meetings.models import Document, Invitation, Meeting, MeetingStatus
from diemcau.meetings.selectors import visible_meetings
from diemcau.uploadsafety import upload_limit


@login_required
def meeting_list(request: HttpRequest) -> HttpResponse:
    meetings = visible_meetings(request.user)
    today = timezone.localdate()
    upcoming = meetings.filter(end__gte=timezone.now()).exclude(status=MeetingStatus.CANCELLED)
    # The calendar: the next 8 weeks grouped by day, days without meetings left out.
    days: OrderedDict[object, list[Meeting]] = OrderedDict()
    for meeting in upcoming.filter(start__lt=timezone.now() + timedelta(weeks=8)):
        days.setdefault(timezone.localtime(meeting.start).date(), []).append(meeting)
    past = meetings.filter(end__lt=timezone.now()).order_by("-start")[:30]
    return render(
        request,
        "meetings/list.html",
        {
            "days": days,
            "today": today,
            "past": past,
            "cancelled": meetings.filter(status=MeetingStatus.CANCELLED, end__gte=timezone.now()),
            "can_manage": can_manage_meetings(request.user),
        },
    )


def _visible_or_404(request: HttpRequest, pk: int) -> Meeting:
    return get_object_or_404(visible_meetings(request.user), pk=pk)


@login_required
def meeting_detail(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = _visible_or_404(request, pk)
    invitations = meeting.invitations.select_related("site", "site__unit")
    if not is_hq_staff(request.user):
        invitations = invitations.filter(site_id=cast(User, request.user).site_id or 0)
    # (invitation, room join link or None when this account may not see it, delegates' link)
    rows = [
        (
            inv,
            request.build_absolute_uri(joinlinks.join_path(inv))
            if can_see_join_link(request.user, inv.site_id)
            else None,
            request.build_absolute_uri(joinlinks.delegate_path(inv)),
        )
        for inv in invitations
    ]
    return render(
        request,
        "meetings/detail.html",
        {
            "meeting": meeting,
            "rows": rows,
            "ca_notice": ca_notice(),
            "invited_count": meeting.invitations.count(),
            "expected": sum(inv.site.expected_delegates for inv, _url, _d in rows),
            "can_manage": can_manage_meetings(request.user),
            "document_form": DocumentForm(),
        },
    )


def _edit(request: HttpRequest, meeting: Meeting) -> HttpResponse:
    form = MeetingForm(request.POST or None, instance=meeting)
    if request.method == "POST" and form.is_valid():
        sites = services.invited_sites(
            all_sites=form.cleaned_data["invite_all"],
            units=form.cleaned_data["invite_units"],
            sites=form.cleaned_data["invite_sites"],
        )
        try:
            saved = services.save_meeting(
                form.save(commit=False),
                sites=sites,
                agenda=form.cleaned_data["agenda_text"],
                by=request.user,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            count = saved.invitations.count()
            messages.success(
                request,
                ngettext("Saved. %(n)d site is invited.", "Saved. %(n)d sites are invited.", count)
                % {"n": count},
            )
            return redirect("meetings:detail", pk=saved.pk)
    return render(request, "meetings/form.html", {"form": form, "meeting": meeting})


@require(can_manage_meetings)
def meeting_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, Meeting())


@require(can_manage_meetings)
def meeting_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(Meeting, pk=pk))


@require_POST
@require(can_manage_meetings)
def invitation_revoke(request: HttpRequest, pk: int, site_code: str) -> HttpResponse:
    invitation = get_object_or_404(Invitation, meeting_id=pk, site__code=site_code)
    services.revoke_join_link(invitation)
    messages.success(
        request,
        _("A new join link was made for %(site)s; the old one no longer works.")
        % {"site": invitation.site.name},
    )
    return redirect("meetings:detail", pk=pk)


@login_required
def invitation_ics_view(request: HttpRequest, pk: int, site_code: str) -> HttpResponse:
    meeting = _visible_or_404(request, pk)
    invitation = get_object_or_404(Invitation, meeting=meeting, site__code=site_code)
    # The calendar entry carries the room join link: the same people as on the meeting page.
    if not can_see_join_link(request.user, invitation.site_id):
        raise PermissionDenied
    url = request.build_absolute_uri(joinlinks.join_path(invitation))
    body = invitation_ics(invitation, url, request.get_host().split(":")[0], ca_notice())
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="hop-{meeting.pk}-{invitation.site.code}.ics"'
    )
    return response


@upload_limit(lambda: settings.DOCUMENT_MAX_BYTES)
@require_POST
@require(can_manage_meetings)
def document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=pk)
    form = DocumentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.add_document(
                meeting,
                form.cleaned_data["file"],
                form.cleaned_data["title"],
                request.user,  # type: ignore[arg-type]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Document attached."))
    else:
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("meetings:detail", pk=pk)


@login_required
def document_download(request: HttpRequest, pk: int, doc_id: int) -> FileResponse:
    meeting = _visible_or_404(request, pk)
    document = get_object_or_404(Document, pk=doc_id, meeting=meeting)
    return FileResponse(
        document.file.open("rb"), as_attachment=True, filename=document.original_name
    )
