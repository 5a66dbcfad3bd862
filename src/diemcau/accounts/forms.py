from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext as _

from diemcau.accounts import services


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing a user name locked by repeated failures.

    The lock is checked before the password, so a locked account cannot be probed.
    """

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        remaining = services.lockout_remaining(username)
        if remaining:
            minutes = max(1, round(remaining / 60))
            raise forms.ValidationError(
                _(
                    "Too many failed attempts for this account. Try again in %(minutes)d "
                    "minutes, or ask the system admin to unlock it."
                )
                % {"minutes": minutes},
                code="locked",
            )
        return super().clean()
