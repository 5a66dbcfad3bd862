"""Login lockout: what django-axes asks of us (its settings are in `diemcau.settings`).

django-axes (https://django-axes.readthedocs.io/) counts failed logins by user name and
address together, through its authentication backend, so Django's admin login is counted
and refused like ours. Two things are ours:

* `client_ip`: which address a login comes from. The app listens on loopback behind the
  HTTPS front, so the TCP peer is the front; the browser's address is the last one the
  front put in X-Forwarded-For. That header is believed only from the front's own address
  (`FrontSettings.trusted_proxies`): anyone else could forge a new address for each try.
* `locked_out`: the answer to a locked login, our login page saying how many minutes are
  left, instead of axes' bare text.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from typing import Any

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from diemcau.accounts.forms import LockedOutForm

# What a locked login answers: Too Many Requests (axes' default code), with our page.
LOCKED_STATUS = 429


def client_ip(request: HttpRequest) -> str | None:
    """The address a request comes from, for counting failed logins (AXES_CLIENT_IP_CALLABLE)."""
    peer = request.META.get("REMOTE_ADDR") or None
    if peer is None or not _is_trusted_proxy(peer):
        return peer
    # The front appends what it saw: the last entry is the browser (or the next proxy out).
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
    if not forwarded:
        return peer
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return peer


def _is_trusted_proxy(peer: str) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address == ipaddress.ip_address(p) for p in settings.FRONT.trusted_proxies)


def seconds_left(username: str, ip: str | None, *, limit: int, cool_off: timedelta) -> int:
    """Seconds until `username` may try again from `ip`, or 0 when that pair is not locked.

    axes keeps one row per user name, address and browser (user agent) and locks while the
    failures of the rows newer than the cool-off add up to `limit`: the lock ends when the
    row that brings the newest ones to `limit` grows older than the cool-off.
    """
    now = timezone.now()
    rows: list[tuple[datetime, int]] = list(
        AccessAttempt.objects.filter(
            username=username, ip_address=ip, attempt_time__gte=now - cool_off
        )
        .order_by("-attempt_time")
        .values_list("attempt_time", "failures_since_start")
    )
    failures = 0
    for attempt_time, count in rows:
        failures += count
        if failures >= limit:
            return max(1, math.ceil((attempt_time + cool_off - now).total_seconds()))
    return 0


def locked_out(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Our login page for a locked user name and address (AXES_LOCKOUT_CALLABLE).

    What axes passes besides the request is not used: its async middleware passes the
    credentials where its sync one passes the original response (django-axes 8.3); the
    credentials it counted are on the request either way.
    """
    username = get_client_username(request, getattr(request, "axes_credentials", None)) or ""
    ip = getattr(request, "axes_ip_address", None) or client_ip(request)
    cool_off = get_cool_off(request) or timedelta(0)
    left = seconds_left(username, ip, limit=get_failure_limit(request, None), cool_off=cool_off)
    minutes = max(1, math.ceil(left / 60))
    message = _(
        "Too many failed attempts for this account. Try again in %(minutes)d "
        "minutes, or ask the system admin to unlock it."
    ) % {"minutes": minutes}
    form = LockedOutForm(message, request, data=request.POST)
    context = {"form": form, "next": request.POST.get("next", request.GET.get("next", ""))}
    return render(request, "accounts/login.html", context, status=LOCKED_STATUS)
