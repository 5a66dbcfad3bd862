"""The only place that changes directives. Each function runs in one transaction."""

from __future__ import annotations

from pathlib import PurePath

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.accounts.models import User
from diemcau.directives.models import Directive, DirectiveRecipient
from diemcau.meetings.models import Meeting
from diemcau.meetings.services import check_document
from diemcau.orgs.models import Site


@transaction.atomic
def issue_directive(
    *,
    title: str,
    number: str,
    body: str,
    upload: UploadedFile[bytes] | None,
    meeting: Meeting | None,
    sites: set[Site],
    by: User | None,
) -> Directive:
    """Send a directive to sites (a meeting's invited sites when none are picked)."""
    if not sites and meeting is not None:
        sites = {inv.site for inv in meeting.invitations.select_related("site")}
    if not sites:
        raise ValidationError(_("Choose the sites that receive the directive."))
    directive = Directive(
        title=title,
        number=number,
        body=body,
        meeting=meeting,
        issued_at=timezone.now(),
        issued_by=by,
    )
    if upload is not None:
        check_document(upload)
        directive.original_name = PurePath(upload.name or "document").name[:255]
        directive.file.save(upload.name or "document", upload, save=False)
    directive.full_clean()
    directive.save()
    DirectiveRecipient.objects.bulk_create(
        [
            DirectiveRecipient(directive=directive, site=site)
            for site in sorted(sites, key=lambda s: s.code)
        ]
    )
    return directive


@transaction.atomic
def acknowledge_directive(recipient: DirectiveRecipient, by: User | None) -> DirectiveRecipient:
    """The site confirms receipt; the first confirmation stands."""
    locked = DirectiveRecipient.objects.select_for_update().get(pk=recipient.pk)
    if locked.acknowledged_at is None:
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by = by
        locked.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return locked


@transaction.atomic
def remind_directive(directive: Directive) -> int:
    """Remind every site that has not acknowledged yet; returns how many."""
    now = timezone.now()
    pending = directive.recipients.filter(acknowledged_at__isnull=True)
    count = pending.count()
    pending.update(reminders=F("reminders") + 1, reminded_at=now)
    return count
