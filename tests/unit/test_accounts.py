from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections
from django.test import AsyncClient, Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from diemcau.accounts.models import Role, User
from diemcau.live.management.commands.demo import create_demo_accounts
from tests.conftest import MakeUser, Org

PASSWORD = "correct horse battery staple"
# Where the attacker and the account's owner are; requests reach the app through the front
# (Caddy on loopback), which puts the browser's address in X-Forwarded-For.
ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"


def _via_front(address: str) -> dict[str, str]:
    return {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": address}


def _post_login(
    client: Client, username: str, password: str, address: str = OWNER, *, admin: bool = False
) -> Any:
    url = reverse("admin:login" if admin else "accounts:login")
    return client.post(
        url,
        {"username": username, "password": password},
        headers={"Accept-Language": "en"},
        **_via_front(address),  # type: ignore[arg-type]
    )


def _login(client: Client, username: str, password: str, address: str = OWNER) -> int:
    return int(_post_login(client, username, password, address).status_code)


def _fail(client: Client, username: str, address: str, times: int, *, admin: bool = False) -> None:
    for _ in range(times):
        response = _post_login(client, username, "wrong", address, admin=admin)
        assert "_auth_user_id" not in client.session
        assert response.status_code in (200, 429)


def _is_lockout_page(response: Any) -> bool:
    """Our login page, saying how long to wait (not a bare 403/429 text)."""
    names = [t.name for t in response.templates]
    return response.status_code == 429 and "accounts/login.html" in names


def test_passwords_are_hashed_with_argon2(make_user: MakeUser) -> None:
    assert make_user(Role.CHAIR).password.startswith("argon2")


def test_correct_password_logs_in(client: Client, make_user: MakeUser) -> None:
    user = make_user(Role.CHAIR)
    assert _login(client, user.username, PASSWORD) == 302


def test_five_failures_lock_that_user_from_that_address_only(
    client: Client, make_user: MakeUser
) -> None:
    user = make_user(Role.CHAIR)
    _fail(client, user.username, ATTACKER, 5)  # DIEMCAU_LOGIN_MAX_FAILURES' default
    # The owner, elsewhere, still logs in: one attacker cannot lock anyone out.
    assert _login(Client(), user.username, PASSWORD, OWNER) == 302
    # From the attacker's address even the right password is refused, and the page says why.
    response = _post_login(client, user.username, PASSWORD, ATTACKER)
    assert _is_lockout_page(response)
    assert "_auth_user_id" not in client.session


def test_four_failures_do_not_lock(client: Client, make_user: MakeUser) -> None:
    user = make_user(Role.CHAIR)
    _fail(client, user.username, ATTACKER, 4)
    assert _login(client, user.username, PASSWORD, ATTACKER) == 302


def test_admin_login_failures_count_and_lock_too(client: Client, make_user: MakeUser) -> None:
    user = make_user(Role.ADMIN)
    user.is_staff = True
    user.save()
    _fail(client, user.username, ATTACKER, 5, admin=True)
    # Locked on Django's own admin login form, which used to skip the check...
    response = _post_login(client, user.username, PASSWORD, ATTACKER, admin=True)
    assert _is_lockout_page(response)
    assert "Try again in 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # ...and on ours: the failures of both forms count together.
    assert _is_lockout_page(_post_login(client, user.username, PASSWORD, ATTACKER))


def test_locked_page_shows_the_minutes_left(client: Client, make_user: MakeUser) -> None:
    from axes.models import AccessAttempt

    # DIEMCAU_LOGIN_LOCKOUT_SECONDS' default: 15 minutes.
    user = make_user(Role.CHAIR)
    _fail(client, user.username, ATTACKER, 5)
    response = _post_login(client, user.username, PASSWORD, ATTACKER)
    assert _is_lockout_page(response)
    assert "Try again in 15 minutes" in response.content.decode()
    # Ten minutes later: five left, and trying in between does not start the wait again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))
    response = _post_login(client, user.username, PASSWORD, ATTACKER)
    assert "Try again in 5 minutes" in response.content.decode()
    response = _post_login(client, user.username, PASSWORD, ATTACKER)
    assert "Try again in 5 minutes" in response.content.decode()


@pytest.mark.django_db(transaction=True)
async def test_locked_page_shows_the_minutes_left_under_asgi(make_user: MakeUser) -> None:
    """The app runs under uvicorn: axes' async middleware path gives the same page."""
    from asgiref.sync import sync_to_async

    user = await sync_to_async(make_user)(Role.CHAIR)
    client = AsyncClient()
    url = reverse("accounts:login")
    for password in ["wrong"] * 5 + [PASSWORD]:
        response = await client.post(
            url,
            {"username": user.username, "password": password},
            headers={"Accept-Language": "en"},
            **_via_front(ATTACKER),  # type: ignore[arg-type]
        )
    assert _is_lockout_page(response)
    assert "Try again in 15 minutes" in response.content.decode()
    await sync_to_async(connections.close_all)()  # the worker thread's, before teardown


def test_lock_ends_after_the_cool_off(client: Client, make_user: MakeUser) -> None:
    from axes.models import AccessAttempt

    user = make_user(Role.CHAIR)
    _fail(client, user.username, ATTACKER, 5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert _login(client, user.username, PASSWORD, ATTACKER) == 302
    # A successful login forgets that address's failures.
    assert not AccessAttempt.objects.filter(username=user.username).exists()


def test_forged_x_forwarded_for_is_believed_only_from_the_front(
    client: Client, make_user: MakeUser
) -> None:
    """A browser reaching the app directly cannot pick a new address per try."""
    user = make_user(Role.CHAIR)
    for n in range(5):
        client.post(
            reverse("accounts:login"),
            {"username": user.username, "password": "wrong"},
            REMOTE_ADDR="192.0.2.50",
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}",
        )
    response = client.post(
        reverse("accounts:login"),
        {"username": user.username, "password": PASSWORD},
        REMOTE_ADDR="192.0.2.50",
        HTTP_X_FORWARDED_FOR="10.9.9.99",
    )
    assert _is_lockout_page(response)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # The front on loopback: the address it appended last (what it saw).
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
        ("127.0.0.1", "10.0.0.1, 198.51.100.7", "198.51.100.7"),
        ("127.0.0.1", "2001:db8::7", "2001:db8::7"),
        ("::1", "198.51.100.7", "198.51.100.7"),
        # No header, or not an address: the peer itself.
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "198.51.100.7, not-an-ip", "127.0.0.1"),
        # Anyone else: the header is theirs to forge, so it is ignored.
        ("192.0.2.50", "198.51.100.7", "192.0.2.50"),
    ],
)
def test_client_address_comes_from_the_front_only(peer: str, forwarded: str, expected: str) -> None:
    from diemcau.accounts.lockout import client_ip

    meta = {"REMOTE_ADDR": peer}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(RequestFactory().get("/", **meta)) == expected  # type: ignore[arg-type]


def test_without_a_front_the_forwarded_header_is_never_believed(settings: Any) -> None:
    from diemcau.accounts.lockout import client_ip

    settings.FRONT = dataclasses.replace(settings.FRONT, mode="none")
    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    assert client_ip(request) == "127.0.0.1"


def test_the_old_login_failure_table_is_gone(db: None) -> None:
    assert "accounts_loginfailure" not in connection.introspection.table_names()


def test_site_operator_must_have_a_site(db: None) -> None:
    with pytest.raises(IntegrityError):
        User.objects.create(username="op", role=Role.SITE_OPERATOR)


def test_demo_accounts_get_random_passwords_once(org: Org) -> None:
    first = create_demo_accounts()
    assert {name for name, _role, _pw in first} >= {"admin", "chutri", "ktv.hq", "ktv.csdn"}
    assert len({pw for _n, _r, pw in first}) == len(first)
    assert create_demo_accounts() == []
    op = User.objects.get(username="ktv.csdn")
    assert op.role == Role.SITE_OPERATOR and op.site == org.site_a


def test_anonymous_is_sent_to_login(client: Client, db: None) -> None:
    response = client.get(reverse("meetings:list"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
