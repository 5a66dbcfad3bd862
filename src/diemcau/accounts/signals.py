"""Login lockout bookkeeping: record failures, forget them on success."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from diemcau.accounts import services


@receiver(user_login_failed)
def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    services.record_login_failure(str(credentials.get("username", "")), request)


@receiver(user_logged_in)
def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    services.clear_login_failures(user.get_username())
