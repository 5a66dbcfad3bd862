"""Forms for the organisation pages: the site filter and the import upload."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from diemcau.orgs import selectors
from diemcau.orgs.importer import ACCEPTED_EXTENSIONS
from diemcau.orgs.models import SiteKind, Unit
from diemcau.uploadsafety import LimitedFileField

# A sheet of a few hundred sites is tens of kilobytes; 2 MB leaves room for XLSX styling.
# Override with settings.SITE_IMPORT_MAX_BYTES.
DEFAULT_IMPORT_MAX_BYTES = 2 * 1024 * 1024


def import_max_bytes() -> int:
    return int(getattr(settings, "SITE_IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX_BYTES))


class SiteFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    unit = forms.TypedChoiceField(
        label=_("Unit (with sub-units)"), required=False, coerce=int, empty_value=None
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False)
    province = forms.ChoiceField(label=_("Province"), required=False)
    country = forms.ChoiceField(label=_("Country"), required=False)
    active = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("all")), ("yes", _("active")), ("no", _("inactive"))],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        everything = [("", _("all"))]
        self.fields["q"].widget.attrs["type"] = "search"
        self.fields["unit"].choices = everything + [  # type: ignore[attr-defined]
            (node.unit.pk, "\u2003" * node.depth + node.unit.name)
            for node in selectors.flatten(selectors.unit_tree())
        ]
        self.fields["kind"].choices = everything + list(SiteKind.choices)  # type: ignore[attr-defined]
        self.fields["province"].choices = everything + [  # type: ignore[attr-defined]
            (p, p) for p in selectors.distinct_values("province")
        ]
        self.fields["country"].choices = everything + [  # type: ignore[attr-defined]
            (c, c) for c in selectors.distinct_values("country")
        ]

    def sites(self) -> Any:
        """The filtered sites; all sites if the form is unbound or invalid."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        unit_id = data.get("unit")
        active = {"yes": True, "no": False}.get(data.get("active") or "")
        return selectors.filter_sites(
            unit=Unit.objects.filter(pk=unit_id).first() if unit_id else None,
            kind=data.get("kind") or "",
            province=data.get("province") or "",
            country=data.get("country") or "",
            active=active,
            text=data.get("q") or "",
        )


class SiteImportForm(forms.Form):
    file = LimitedFileField(
        label=_("Spreadsheet (CSV or XLSX)"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ACCEPTED_EXTENSIONS)}),
    )

    def clean_file(self) -> UploadedFile[Any]:
        file: UploadedFile[Any] = self.cleaned_data["file"]
        extension = PurePath(file.name or "").suffix.lower()
        if extension not in ACCEPTED_EXTENSIONS:
            raise forms.ValidationError(
                _("Files of type “%(ext)s” are not accepted: upload a CSV or XLSX file."),
                params={"ext": extension or file.name},
            )
        if file.size is not None and file.size > import_max_bytes():
            raise forms.ValidationError(
                _("The file is %(size)s; the limit is %(max)s."),
                params={
                    "size": filesizeformat(file.size),
                    "max": filesizeformat(import_max_bytes()),
                },
            )
        return file
