from __future__ import annotations

import pytest
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse

from diemcau.accounts.models import LoginFailure, Role, User
from diemcau.live.management.commands.demo import create_demo_accounts
from tests.conftest import MakeUser, Org

PASSWORD = "correct horse battery staple"


def _login(client: Client, username: str, password: str) -> int:
    response = client.post(reverse("accounts:login"), {"username": username, "password": password})
    return response.status_code


def test_passwords_are_hashed_with_argon2(make_user: MakeUser) -> None:
    assert make_user(Role.CHAIR).password.startswith("argon2")


def test_correct_password_logs_in(client: Client, make_user: MakeUser) -> None:
    user = make_user(Role.CHAIR)
    assert _login(client, user.username, PASSWORD) == 302


def test_account_is_locked_after_repeated_failures(
    client: Client, make_user: MakeUser, settings: object
) -> None:
    settings.LOGIN_MAX_FAILURES = 3  # type: ignore[attr-defined]
    user = make_user(Role.CHAIR)
    for _ in range(3):
        assert _login(client, user.username, "wrong") == 200
    # Even the right password is refused while locked, and the page says why.
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["__all__"][0]
    assert "_auth_user_id" not in client.session


def test_lock_expires_after_the_window(
    client: Client, make_user: MakeUser, settings: object
) -> None:
    settings.LOGIN_MAX_FAILURES = 2  # type: ignore[attr-defined]
    user = make_user(Role.CHAIR)
    for _ in range(2):
        _login(client, user.username, "wrong")
    LoginFailure.objects.update(at="2000-01-01T00:00:00Z")
    assert _login(client, user.username, PASSWORD) == 302
    assert not LoginFailure.objects.filter(username=user.username).exists()


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
