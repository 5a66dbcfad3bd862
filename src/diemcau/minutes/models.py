"""Minutes (biên bản): editable summary fields over the meeting's record, then finalised:
locked, with the record frozen into it, and versioned (a correction is a new version)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from diemcau.meetings.models import Meeting


class Minutes(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="minutes")
    version = models.PositiveIntegerField(_("version"), default=1)
    document_number = models.CharField(_("document number"), max_length=50, blank=True)
    chair_name = models.CharField(_("chaired by"), max_length=200, blank=True)
    secretary_name = models.CharField(_("secretary"), max_length=200, blank=True)
    opening = models.TextField(_("opening and purpose"), blank=True)
    conclusions = models.TextField(_("conclusions of the chair"), blank=True)
    notes = models.TextField(_("other notes"), blank=True)
    # Frozen at finalisation: what the documents of this version are made from.
    record = models.JSONField(null=True, blank=True, editable=False)
    finalised_at = models.DateTimeField(_("finalised at"), null=True, blank=True)
    finalised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["meeting", "version"]
        verbose_name = pgettext_lazy("document", "minutes")
        verbose_name_plural = pgettext_lazy("document", "minutes")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "version"], name="minutes_version"),
        ]

    def __str__(self) -> str:
        return f"{self.meeting} v{self.version}"

    @property
    def final(self) -> bool:
        return self.finalised_at is not None
