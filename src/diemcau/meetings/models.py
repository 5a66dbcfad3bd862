"""Scheduled meetings, their agenda, documents and per-site invitations."""

from __future__ import annotations

import secrets
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from diemcau.orgs.models import Site


class MeetingKind(models.TextChoices):
    CONFERENCE = "conference", _("conference")
    SEMINAR = "seminar", _("seminar")
    TRAINING = "training", _("training")
    BRIEFING = "briefing", _("briefing")
    CEREMONY = "ceremony", _("ceremony")
    OTHER = "other", _("other")


class MeetingFormat(models.TextChoices):
    ONLINE = "online", _("online")
    HYBRID = "hybrid", _("hybrid")


class MeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("scheduled")
    LIVE = "live", _("live")
    ENDED = "ended", _("ended")
    CANCELLED = "cancelled", _("cancelled")


class Meeting(models.Model):
    kind = models.CharField(
        _("kind"), max_length=20, choices=MeetingKind.choices, default=MeetingKind.CONFERENCE
    )
    format = models.CharField(
        _("format"), max_length=10, choices=MeetingFormat.choices, default=MeetingFormat.ONLINE
    )
    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    main_site = models.ForeignKey(
        Site, verbose_name=_("main site"), on_delete=models.PROTECT, related_name="hosted_meetings"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.SCHEDULED
    )
    # The VideoRoom room id while live; the room secret is kept to moderate and destroy it.
    janus_room = models.BigIntegerField(_("Janus room"), null=True, blank=True, unique=True)
    janus_room_secret = models.CharField(max_length=64, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        ordering = ["start"]
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="end_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.title


def _nonce() -> str:
    return secrets.token_urlsafe(12)


class Invitation(models.Model):
    """A site invited to a meeting. The join link is signed over (meeting, site, nonce);
    a new nonce revokes every link handed out before."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="invitations")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="invitations")
    nonce = models.CharField(max_length=32, default=_nonce, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["site__code"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "site"], name="one_invitation_per_site")
        ]

    def __str__(self) -> str:
        return f"{self.meeting} → {self.site.code}"


class AgendaItem(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="agenda")
    order = models.PositiveIntegerField(_("order"), default=0)
    title = models.CharField(_("item"), max_length=300)
    presenter = models.CharField(_("presenter"), max_length=200, blank=True)
    duration_minutes = models.PositiveIntegerField(_("minutes"), null=True, blank=True)

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("agenda item")
        verbose_name_plural = _("agenda")

    def __str__(self) -> str:
        return self.title


def document_path(instance: Document, filename: str) -> str:
    return (
        f"meetings/{instance.meeting_id}/{secrets.token_hex(8)}{PurePath(filename).suffix.lower()}"
    )


class Document(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(_("title"), max_length=300)
    file = models.FileField(_("file"), upload_to=document_path)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self) -> str:
        return self.title
