"""Read-only queries scoped to who is asking."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from diemcau.accounts.permissions import is_hq_staff
from diemcau.meetings.models import Meeting


def visible_meetings(user: Any) -> QuerySet[Meeting]:
    """HQ staff see every meeting; anyone bound to a site sees the meetings it is invited to."""
    meetings = Meeting.objects.select_related("main_site")
    if is_hq_staff(user):
        return meetings
    if getattr(user, "site_id", None):
        return meetings.filter(invitations__site_id=user.site_id).distinct()
    return meetings.none()
