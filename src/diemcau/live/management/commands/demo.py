"""`diemcau demo`: the demo organisation, accounts and one meeting, the first time only.

It sits in `live`, the top of the apps, because it uses all of them (a held meeting is
recorded through the live services, so the minutes and reports have data)."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from diemcau.accounts.models import Role, User
from diemcau.live import lifecycle
from diemcau.live import services as live
from diemcau.live.services import Actor
from diemcau.meetings import services
from diemcau.meetings.models import Meeting, MeetingKind, MeetingStatus
from diemcau.orgs import services as org_services
from diemcau.orgs.models import Site, SiteKind

SAMPLE = Path(__file__).resolve().parents[3] / "orgs" / "fixtures" / "sites-sample.csv"


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


class Command(BaseCommand):
    help = "Load the demo organisation, accounts and a meeting if the database is empty."

    def handle(self, *args: Any, **options: Any) -> None:
        if not Site.objects.exists():
            result = org_services.import_sites_from_path(SAMPLE)
            self.stdout.write(f"Demo organisation: {result.summary()}")
        accounts = create_demo_accounts()
        if accounts:
            self.stdout.write(
                self.style.WARNING("Demo accounts (passwords are shown only this once):")
            )
            for username, role, password in accounts:
                self.stdout.write(f"  {username:<10} {password:<16} {role}")
        if not Meeting.objects.exists():
            main = Site.objects.filter(kind=SiteKind.MAIN, active=True).first()
            if main is not None:
                day = timezone.localdate() + timedelta(days=1)
                start = timezone.make_aware(datetime.combine(day, time(8, 0)))
                meeting = Meeting(
                    kind=MeetingKind.BRIEFING,
                    title="Thông báo nhanh kết quả Đại hội (demo)",
                    start=start,
                    end=start + timedelta(hours=2),
                    main_site=main,
                )
                services.save_meeting(
                    meeting,
                    sites=services.invited_sites(all_sites=True),
                    agenda=[
                        services.AgendaLine("Khai mạc, giới thiệu đại biểu", "Văn phòng", 10),
                        services.AgendaLine("Thông báo kết quả Đại hội", "Chủ tịch", 60),
                        services.AgendaLine("Ý kiến các điểm cầu", "", 40),
                        services.AgendaLine("Bế mạc", "Chủ tịch", 10),
                    ],
                    by=None,
                )
                self.stdout.write(f"Demo meeting: {meeting.title}")
                held = held_demo_meeting(main)
                self.stdout.write(
                    f"Demo record (ended meeting for minutes and reports): {held.title}"
                )


def held_demo_meeting(main: Site) -> Meeting:
    """A briefing that already took place, recorded through the live services as a real
    one would be: every site joins and answers the roll call, one speaks, a vote is held.
    The minutes, the savings report and the dashboard have something to show from day one."""
    rng = random.Random(2026)  # the same demo every time
    now = timezone.now()
    meeting = services.save_meeting(
        Meeting(
            kind=MeetingKind.BRIEFING,
            title="Thông báo nhanh kết quả Đại hội Đảng bộ Tập đoàn (demo, đã họp)",
            start=now - timedelta(hours=2),
            end=now - timedelta(minutes=5),
            main_site=main,
        ),
        sites=services.invited_sites(all_sites=True),
        agenda=[
            services.AgendaLine("Khai mạc", "Văn phòng", 5),
            services.AgendaLine("Thông báo nhanh kết quả Đại hội", "Chủ tịch", 60),
        ],
        by=None,
    )
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.LIVE, started_at=now)
    chair = Actor(meeting.pk, main.pk, hq=True, user=None, chair=True)
    sites = [inv.site for inv in meeting.invitations.select_related("site")]
    pages = {
        site.pk: Actor(meeting.pk, site.pk, hq=site.pk == main.pk, chair=False) for site in sites
    }
    rows = {site.pk: live.site_connected(pages[site.pk])[1] for site in sites}
    live.open_roll_call(chair)
    for site in sites:
        live.answer_roll_call(pages[site.pk], max(1, site.expected_delegates - rng.randint(0, 3)))
    live.close_roll_call(chair)
    speaker = next(s for s in sites if s.pk != main.pk)
    live.request_floor(pages[speaker.pk], "Kết quả thực hiện nghị quyết tại đơn vị")
    live.grant_floor(chair, site_id=speaker.pk)
    live.take_back_floor(chair)
    live.open_vote(chair, "Thống nhất triển khai nghị quyết đến công đoàn cơ sở")
    agree, disagree = live.default_options()[:2]
    for site in sites:
        live.cast_vote(pages[site.pk], choice=agree if rng.random() > 0.1 else disagree)
    live.close_vote(chair)
    live.send_chat(pages[speaker.pk], "Đề nghị gửi văn bản nghị quyết về các đơn vị.")
    for site in sites:
        live.site_disconnected(pages[site.pk], rows[site.pk], dropped=False)
    return lifecycle.end_meeting(meeting)
