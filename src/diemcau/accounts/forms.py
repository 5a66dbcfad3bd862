from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest


class LockedOutForm(AuthenticationForm):
    """The login form as a locked login sees it: the user name kept, `message` as its error.

    It never authenticates, so showing it counts no further failure.
    """

    def __init__(self, message: str, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.message = message

    def clean(self) -> dict[str, Any]:
        raise forms.ValidationError(self.message, code="locked")
