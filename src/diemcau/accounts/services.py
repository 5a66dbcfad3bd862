"""Account state changes: lockout records, demo accounts."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from diemcau.accounts.models import LoginFailure, Role, User
from diemcau.orgs.models import Site


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


DEMO_ACCOUNTS = (
    ("admin", Role.ADMIN, None),
    ("chutri", Role.CHAIR, None),
    ("ktv.hq", Role.HQ_OPERATOR, None),
    ("ktv.csdn", Role.SITE_OPERATOR, "CSDN"),
    ("ktv.csdt", Role.SITE_OPERATOR, "CSDT"),
)


@transaction.atomic
def create_demo_accounts() -> list[tuple[str, str, str]]:
    """Create the demo accounts that do not exist yet; return (username, role, password).

    Passwords are random and shown once; they are stored only as argon2 hashes.
    """
    created: list[tuple[str, str, str]] = []
    for username, role, site_code in DEMO_ACCOUNTS:
        if User.objects.filter(username=username).exists():
            continue
        site = Site.objects.filter(code=site_code).first() if site_code else None
        if site_code and site is None:
            continue
        password = secrets.token_urlsafe(9)
        user = User(username=username, role=role, site=site)
        if role == Role.ADMIN:
            user.is_staff = True
            user.is_superuser = True
        user.set_password(password)
        user.save()
        created.append((username, str(Role(role).label), password))
    return created
