"""Fixtures shared by every test: a small organisation and users in each role."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from diemcau.accounts.models import Role, User
from diemcau.live.actions import Actor
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.orgs.models import Site, SiteKind, Unit


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Path) -> None:
    """Uploaded files go to a folder of the test's own."""
    settings.MEDIA_ROOT = tmp_path / "files"


@dataclass
class Org:
    hq: Unit
    corp: Unit
    main: Site
    site_a: Site
    site_b: Site


@pytest.fixture
def org(db: None) -> Org:
    hq = Unit.objects.create(name="Công đoàn Cao su Việt Nam")
    corp = Unit.objects.create(name="Công đoàn Tổng công ty Cao su Đồng Nai", parent=hq)
    main = Site.objects.create(
        code="HQ", name="Điểm cầu chính", unit=hq, kind=SiteKind.MAIN, expected_delegates=40
    )
    site_a = Site.objects.create(
        code="CSDN", name="Cao su Đồng Nai", unit=corp, expected_delegates=30
    )
    site_b = Site.objects.create(
        code="CSDT", name="Cao su Dầu Tiếng", unit=hq, expected_delegates=25
    )
    return Org(hq=hq, corp=corp, main=main, site_a=site_a, site_b=site_b)


MakeUser = Callable[..., User]


@pytest.fixture
def make_user(db: None) -> MakeUser:
    def make(role: str = Role.DELEGATE, site: Site | None = None, username: str = "") -> User:
        name = username or f"{role}-{site.code if site else 'x'}-{User.objects.count()}"
        user = User(username=name, role=role, site=site)
        user.set_password("correct horse battery staple")
        user.save()
        return user

    return make


@pytest.fixture
def meeting(org: Org) -> Meeting:
    from diemcau.meetings.services import save_meeting

    start = timezone.now() + timedelta(hours=1)
    m = Meeting(
        title="Hội nghị thông báo nhanh",
        start=start,
        end=start + timedelta(hours=2),
        main_site=org.main,
    )
    return save_meeting(m, sites={org.site_a, org.site_b}, agenda=None, by=None)


@pytest.fixture
def live(meeting: Meeting) -> Meeting:
    """The meeting, live (its Janus room is not needed by the control-plane tests)."""
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.LIVE)
    meeting.refresh_from_db()
    return meeting


@pytest.fixture
def chair(live: Meeting, org: Org, make_user: MakeUser) -> Actor:
    """The chair's HQ console in the live meeting."""
    return Actor(live.pk, org.main.pk, hq=True, user=make_user(Role.CHAIR), chair=True)
