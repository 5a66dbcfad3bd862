"""Directives (văn bản chỉ đạo): documents HQ sends to sites, each site's acknowledgement."""

from __future__ import annotations

import secrets
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from diemcau.meetings.models import Meeting
from diemcau.orgs.models import Site


def directive_path(instance: Directive, filename: str) -> str:
    return f"directives/{secrets.token_hex(8)}{PurePath(filename).suffix.lower()}"


class Directive(models.Model):
    """A directive document (văn bản chỉ đạo) HQ sends to sites, who acknowledge receipt."""

    number = models.CharField(_("document number"), max_length=50, blank=True)
    title = models.CharField(_("title"), max_length=300)
    body = models.TextField(_("content"), blank=True)
    file = models.FileField(_("file"), upload_to=directive_path, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    meeting = models.ForeignKey(
        Meeting,
        verbose_name=_("meeting"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="directives",
    )
    issued_at = models.DateTimeField(_("issued at"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        # The tables keep the names they had when directives lived in `meetings`.
        db_table = "meetings_directive"
        ordering = ["-issued_at"]
        verbose_name = _("directive")
        verbose_name_plural = _("directives")

    def __str__(self) -> str:
        return f"{self.number} {self.title}".strip()


class DirectiveRecipient(models.Model):
    directive = models.ForeignKey(Directive, on_delete=models.CASCADE, related_name="recipients")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="directives")
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reminders = models.PositiveIntegerField(_("reminders"), default=0)
    reminded_at = models.DateTimeField(_("last reminder"), null=True, blank=True)

    class Meta:
        db_table = "meetings_directiverecipient"
        ordering = ["site__code"]
        verbose_name = _("directive recipient")
        verbose_name_plural = _("directive recipients")
        constraints = [
            models.UniqueConstraint(fields=["directive", "site"], name="one_recipient_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.directive} → {self.site.code}"
