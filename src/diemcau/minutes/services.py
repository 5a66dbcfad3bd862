"""Changing minutes: draft edits, finalisation (lock + freeze the record), new versions."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.accounts.models import User
from diemcau.meetings.models import Meeting
from diemcau.minutes import selectors
from diemcau.minutes.models import Minutes

EDITABLE = ("document_number", "chair_name", "secretary_name", "opening", "conclusions", "notes")


def current(meeting: Meeting) -> Minutes:
    """The latest version, creating the first draft on first use."""
    latest = meeting.minutes.order_by("-version").first()
    if latest is None:
        latest = Minutes.objects.create(meeting=meeting, version=1)
    return latest


@transaction.atomic
def save_draft(minutes: Minutes, values: dict[str, Any]) -> Minutes:
    locked = Minutes.objects.select_for_update().get(pk=minutes.pk)
    if locked.final:
        raise ValidationError(
            _("This version is finalised and locked: start a new version to change it.")
        )
    for name in EDITABLE:
        if name in values:
            setattr(locked, name, values[name])
    locked.full_clean()
    locked.save()
    return locked


@transaction.atomic
def finalise(minutes: Minutes, by: User | None) -> Minutes:
    locked = Minutes.objects.select_for_update().select_related("meeting").get(pk=minutes.pk)
    if locked.final:
        raise ValidationError(_("This version is already finalised."))
    locked.record = selectors.build(locked.meeting)
    locked.finalised_at = timezone.now()
    locked.finalised_by = by
    locked.save()
    return locked


@transaction.atomic
def new_version(minutes: Minutes) -> Minutes:
    """A correction: a new draft that starts from the finalised version's fields."""
    if not minutes.final:
        raise ValidationError(_("Finalise this version before starting another."))
    latest = minutes.meeting.minutes.order_by("-version").first()
    assert latest is not None
    if not latest.final:
        return latest
    return Minutes.objects.create(
        meeting=minutes.meeting,
        version=latest.version + 1,
        **{name: getattr(minutes, name) for name in EDITABLE},
    )


def fields_of(minutes: Minutes) -> dict[str, str]:
    return {name: str(getattr(minutes, name)) for name in EDITABLE}


def record_of(minutes: Minutes) -> dict[str, Any]:
    """A finalised version keeps the record it was finalised with; a draft shows it live."""
    return minutes.record if minutes.final and minutes.record else selectors.build(minutes.meeting)
