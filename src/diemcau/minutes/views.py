from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from diemcau.accounts.models import User
from diemcau.accounts.permissions import can_manage_meetings, require
from diemcau.meetings.models import Meeting
from diemcau.meetings.selectors import visible_meetings
from diemcau.minutes import documents, services
from diemcau.minutes.models import Minutes


class MinutesForm(forms.ModelForm[Minutes]):
    class Meta:
        model = Minutes
        fields = list(services.EDITABLE)
        widgets = {
            "opening": forms.Textarea(attrs={"rows": 3}),
            "conclusions": forms.Textarea(attrs={"rows": 5}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }


@require(can_manage_meetings)
def minutes_edit(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    minutes = services.current(meeting)
    form = MinutesForm(request.POST or None, instance=minutes)
    if request.method == "POST" and not minutes.final and form.is_valid():
        try:
            services.save_draft(minutes, form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Draft saved."))
            return redirect("minutes:edit", meeting_id=meeting.pk)
    return render(
        request,
        "minutes/edit.html",
        {
            "meeting": meeting,
            "minutes": minutes,
            "form": form,
            "versions": meeting.minutes.order_by("-version"),
            "blocks": documents.body(services.record_of(minutes), services.fields_of(minutes)),
        },
    )


@require_POST
@require(can_manage_meetings)
def minutes_action(request: HttpRequest, meeting_id: int, action: str) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    minutes = services.current(meeting)
    try:
        if action == "finalise":
            services.finalise(minutes, cast(User, request.user))
            messages.success(
                request, _("Minutes finalised and locked (version %d).") % minutes.version
            )
        elif action == "new-version":
            created = services.new_version(minutes)
            messages.success(request, _("Version %d started as a draft.") % created.version)
        else:
            raise Http404
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("minutes:edit", meeting_id=meeting.pk)


def minutes_download(request: HttpRequest, meeting_id: int, version: int, fmt: str) -> HttpResponse:
    """HQ staff any version; a site's users the finalised minutes of meetings it was invited to."""
    if not request.user.is_authenticated:
        return redirect(f"{request.build_absolute_uri('/accounts/login/')}?next={request.path}")
    meeting = get_object_or_404(visible_meetings(request.user), pk=meeting_id)
    minutes = get_object_or_404(Minutes, meeting=meeting, version=version)
    if not minutes.final and not can_manage_meetings(request.user):
        raise Http404
    record, fields = services.record_of(minutes), services.fields_of(minutes)
    name = f"bien-ban-{meeting.pk}-v{minutes.version}"
    if fmt == "docx":
        body = documents.to_docx(record, fields, minutes.version, minutes.final)
        kind = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    elif fmt == "pdf":
        body = documents.to_pdf(record, fields, minutes.version, minutes.final)
        kind = "application/pdf"
    else:
        raise Http404
    response = HttpResponse(body, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
