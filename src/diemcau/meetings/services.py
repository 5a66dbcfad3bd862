"""The only place that changes meetings. Each function runs in one transaction.

Starting and ending a meeting are the live meeting's (live/lifecycle.py: its Janus room
and its pages); editing a meeting lets the apps above take part (hooks.py: live tells the
pages that follow a live meeting what changed).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from diemcau import uploadsafety
from diemcau.accounts.models import User
from diemcau.meetings import hooks
from diemcau.meetings.models import (
    AgendaItem,
    Document,
    Invitation,
    Meeting,
    MeetingStatus,
)
from diemcau.orgs.models import Site, Unit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgendaLine:
    title: str
    presenter: str = ""
    duration_minutes: int | None = None


def invited_sites(
    *, all_sites: bool, units: Iterable[Unit] = (), sites: Iterable[Site] = ()
) -> set[Site]:
    """Resolve the "invite" choices: every active site, whole units (with sub-units), or picks."""
    chosen: set[Site] = set(sites)
    if all_sites:
        chosen.update(Site.objects.filter(active=True))
    unit_ids: set[int] = set()
    for unit in units:
        unit_ids |= unit.descendant_ids()
    if unit_ids:
        chosen.update(Site.objects.filter(active=True, unit_id__in=unit_ids))
    return chosen


@transaction.atomic
def save_meeting(
    meeting: Meeting,
    *,
    sites: set[Site],
    agenda: Sequence[AgendaLine] | None,
    by: User | None,
) -> Meeting:
    """Create or update a meeting with its invitations and agenda.

    The main site is always invited. Invitations of sites no longer chosen are removed;
    existing ones keep their nonce, so join links already sent keep working.
    """
    if meeting.status in (MeetingStatus.ENDED, MeetingStatus.CANCELLED):
        raise ValidationError(_("An ended or cancelled meeting cannot be changed."))
    if meeting.pk is None:
        meeting.created_by = by
    meeting.full_clean()
    # Pages following the meeting are told what changed (title, invited sites).
    with hooks.editing(meeting.pk):
        meeting.save()
        wanted = {s.pk for s in sites} | {meeting.main_site_id}
        existing = set(meeting.invitations.values_list("site_id", flat=True))
        meeting.invitations.exclude(site_id__in=wanted).delete()
        Invitation.objects.bulk_create(
            [Invitation(meeting=meeting, site_id=site_id) for site_id in sorted(wanted - existing)]
        )
    if agenda is not None:
        meeting.agenda.all().delete()
        AgendaItem.objects.bulk_create(
            [
                AgendaItem(
                    meeting=meeting,
                    order=i,
                    title=line.title,
                    presenter=line.presenter,
                    duration_minutes=line.duration_minutes,
                )
                for i, line in enumerate(agenda, start=1)
            ]
        )
    return meeting


def revoke_join_link(invitation: Invitation) -> Invitation:
    """Give the invitation a new nonce: every link sent before stops working, and pages
    and phones that opened one are closed (meetings.hooks)."""
    old = invitation.nonce
    invitation.nonce = secrets.token_urlsafe(12)
    invitation.save(update_fields=["nonce"])
    hooks.revoked(invitation, old)
    return invitation


@transaction.atomic
def cancel_meeting(meeting: Meeting, by: User | None = None) -> Meeting:
    locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
    if locked.status != MeetingStatus.SCHEDULED:
        raise ValidationError(_("Only a scheduled meeting can be cancelled."))
    locked.status = MeetingStatus.CANCELLED
    locked.save(update_fields=["status"])
    return locked


# --- documents -----------------------------------------------------------------------

# Extension → the file signatures it may start with (checked on the content, not the name).
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"
DOCUMENT_TYPES: dict[str, tuple[bytes, ...]] = {
    ".pdf": (b"%PDF-",),
    ".doc": (_OLE,),
    ".xls": (_OLE,),
    ".ppt": (_OLE,),
    ".docx": (_ZIP,),
    ".xlsx": (_ZIP,),
    ".pptx": (_ZIP,),
    ".odt": (_ZIP,),
    ".ods": (_ZIP,),
    ".odp": (_ZIP,),
}


def check_document(upload: UploadedFile[bytes]) -> None:
    """Refuse a file that is too large, of a type we do not take, or not what its name says:
    its first bytes, then its structure (uploadsafety.check_structure: the parts an Office
    file must hold and no ZIP bomb; a PDF that parses)."""
    name = upload.name or ""
    suffix = PurePath(name).suffix.lower()
    if suffix not in DOCUMENT_TYPES:
        raise ValidationError(
            _(
                "%(name)s: file type %(suffix)s is not accepted; "
                "use PDF, Word, Excel, PowerPoint or OpenDocument."
            )
            % {"name": name, "suffix": suffix or "?"}
        )
    size = upload.size or 0
    if size > settings.DOCUMENT_MAX_BYTES:
        raise ValidationError(
            _("%(name)s is %(size)s; the limit is %(limit)s.")
            % {
                "name": name,
                "size": filesizeformat(size),
                "limit": filesizeformat(settings.DOCUMENT_MAX_BYTES),
            }
        )
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    if not any(head.startswith(sig) for sig in DOCUMENT_TYPES[suffix]):
        raise ValidationError(
            _("%(name)s does not contain a %(suffix)s document (its content is of another type).")
            % {"name": name, "suffix": suffix}
        )
    try:
        uploadsafety.check_structure(upload, name, size)
    except uploadsafety.FileRefused as exc:
        raise ValidationError(str(exc)) from exc


@transaction.atomic
def add_document(
    meeting: Meeting, upload: UploadedFile[bytes], title: str, by: User | None
) -> Document:
    check_document(upload)
    document = Document(
        meeting=meeting,
        title=title or PurePath(upload.name or "").stem,
        original_name=PurePath(upload.name or "document").name[:255],
        size=upload.size or 0,
        uploaded_by=by,
    )
    document.file.save(upload.name or "document", upload, save=False)
    try:
        document.save()
    except Exception:
        document.file.delete(save=False)
        raise
    return document
