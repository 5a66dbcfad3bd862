"""The directive form: what is sent, and to which sites."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from diemcau.meetings.forms import sites_field, units_field
from diemcau.meetings.models import Meeting
from diemcau.uploadsafety import LimitedFileField


class DirectiveForm(forms.Form):
    number = forms.CharField(label=gettext_lazy("Document number"), max_length=50, required=False)
    title = forms.CharField(label=gettext_lazy("Title"), max_length=300)
    body = forms.CharField(
        label=gettext_lazy("Content"), widget=forms.Textarea(attrs={"rows": 5}), required=False
    )
    # Stopped at the document limit while it arrives (uploadsafety's default limit).
    file = LimitedFileField(
        label=gettext_lazy("File (PDF, Word, Excel, PowerPoint)"), required=False
    )
    meeting = forms.ModelChoiceField(
        label=gettext_lazy("Meeting (optional: its invited sites receive it)"),
        queryset=Meeting.objects.exclude(status="cancelled").order_by("-start"),
        required=False,
    )
    send_all = forms.BooleanField(label=gettext_lazy("Send to every active site"), required=False)
    units = units_field(gettext_lazy("Send to whole units (with their sub-units)"))
    sites = sites_field(gettext_lazy("Send to sites one by one"))
