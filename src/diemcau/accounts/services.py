"""Account state changes: lockout records, demo accounts."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from diemcau.accounts.models import LoginFailure


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record_login_failure(username: str, request: HttpRequest | None) -> None:
    LoginFailure.objects.create(username=username.lower()[:150], ip=_client_ip(request))


def clear_login_failures(username: str) -> None:
    LoginFailure.objects.filter(username=username.lower()).delete()


def lockout_remaining(username: str) -> int:
    """Seconds until `username` may try again, or 0 when it is not locked."""
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    since = timezone.now() - window
    recent = LoginFailure.objects.filter(username=username.lower(), at__gte=since)
    if recent.count() < settings.LOGIN_MAX_FAILURES:
        return 0
    newest = recent.order_by("-at").values_list("at", flat=True).first()
    if newest is None:
        return 0
    return max(1, int((newest + window - timezone.now()).total_seconds()))
