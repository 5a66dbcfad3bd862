"""Accounts leaving: a logout or a disabled account closes what it still has open in live
meetings (live/revoke.py). Connected by `LiveConfig.ready`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save

from diemcau.accounts.permissions import is_hq_staff
from diemcau.live import revoke


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    revoke.session_ended(
        getattr(session, "session_key", None), user.pk if user is not None else None
    )


def _account_saved(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    # Disabled, or no longer HQ staff: its consoles close. A login only stamps last_login.
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    if not instance.is_active:
        revoke.user_removed(instance.pk, disabled=True)
    elif not is_hq_staff(instance):
        revoke.user_removed(instance.pk, disabled=False)


def connect() -> None:
    user_logged_out.connect(_logged_out, dispatch_uid="diemcau.live.logged_out")
    post_save.connect(
        _account_saved, sender=get_user_model(), dispatch_uid="diemcau.live.account_saved"
    )
