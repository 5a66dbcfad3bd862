from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrOrPromise

from diemcau.meetings.models import Meeting
from diemcau.meetings.services import AgendaLine
from diemcau.orgs.models import Site, SiteKind, Unit
from diemcau.uploadsafety import LimitedFileField

# A text field in the Vietnamese order (dd/mm/yyyy hh:mm) rather than the browser's picker,
# whose order follows the room PC's own locale (often en-US in kiosks).
DATETIME_INPUT = forms.DateTimeInput(
    attrs={"placeholder": "dd/mm/yyyy hh:mm", "inputmode": "numeric", "size": 18},
    format="%d/%m/%Y %H:%M",
)


def units_field(label: StrOrPromise) -> forms.ModelMultipleChoiceField[Unit]:
    """Whole units (with their sub-units): the "by unit" way of choosing sites."""
    return forms.ModelMultipleChoiceField(
        label=label,
        queryset=Unit.objects.all(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )


def sites_field(label: StrOrPromise) -> forms.ModelMultipleChoiceField[Site]:
    """Active sites picked one by one."""
    return forms.ModelMultipleChoiceField(
        label=label,
        queryset=Site.objects.filter(active=True),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class MeetingForm(forms.ModelForm[Meeting]):
    invite_all = forms.BooleanField(label=gettext_lazy("Invite every active site"), required=False)
    invite_units = units_field(gettext_lazy("Invite whole units (with their sub-units)"))
    invite_sites = sites_field(gettext_lazy("Invite sites one by one"))
    agenda_text = forms.CharField(
        label=gettext_lazy("Agenda"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=gettext_lazy(
            "One item per line: title | presenter | minutes (presenter and minutes optional)."
        ),
    )

    class Meta:
        model = Meeting
        fields = ["kind", "format", "title", "description", "start", "end", "main_site"]
        widgets = {"start": DATETIME_INPUT, "end": DATETIME_INPUT}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["main_site"].queryset = Site.objects.filter(active=True)  # type: ignore[attr-defined]
        if not self.instance.pk:
            main = Site.objects.filter(active=True, kind=SiteKind.MAIN).first()
            if main and not self.initial.get("main_site"):
                self.initial["main_site"] = main.pk
            # Tomorrow 08:00–10:00, Vietnam time: the usual slot for a briefing.
            start = timezone.make_aware(
                datetime.combine(timezone.localdate() + timedelta(days=1), time(8, 0))
            )
            if not self.initial.get("start"):
                self.initial["start"] = start
                self.initial["end"] = start + timedelta(hours=2)
        else:
            self.initial["invite_sites"] = list(
                self.instance.invitations.values_list("site_id", flat=True)
            )
            self.initial["agenda_text"] = "\n".join(
                " | ".join(
                    part
                    for part in (
                        item.title,
                        item.presenter,
                        str(item.duration_minutes) if item.duration_minutes else "",
                    )
                ).rstrip(" |")
                for item in self.instance.agenda.all()
            )

    def clean_agenda_text(self) -> list[AgendaLine]:
        lines: list[AgendaLine] = []
        for number, raw in enumerate(self.cleaned_data["agenda_text"].splitlines(), start=1):
            if not raw.strip():
                continue
            parts = [p.strip() for p in raw.split("|")]
            if len(parts) > 3:
                raise forms.ValidationError(
                    _("Line %(n)d: use at most three parts separated by '|' (got “%(value)s”).")
                    % {"n": number, "value": raw}
                )
            minutes: int | None = None
            if len(parts) == 3 and parts[2]:
                if not parts[2].isdigit():
                    raise forms.ValidationError(
                        _("Line %(n)d: minutes must be a whole number (got “%(value)s”).")
                        % {"n": number, "value": parts[2]}
                    )
                minutes = int(parts[2])
            if not parts[0]:
                raise forms.ValidationError(_("Line %(n)d: the item has no title.") % {"n": number})
            lines.append(
                AgendaLine(parts[0][:300], parts[1][:200] if len(parts) > 1 else "", minutes)
            )
        return lines

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", _("The end must be after the start."))
        return data


class DocumentForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=300, required=False)
    # Stopped at settings.DOCUMENT_MAX_BYTES while it arrives (uploadsafety); its type and
    # structure are checked by services.check_document.
    file = LimitedFileField(label=gettext_lazy("File (PDF, Word, Excel, PowerPoint)"))
