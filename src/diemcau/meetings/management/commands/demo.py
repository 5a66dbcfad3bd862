"""`diemcau demo`: the demo organisation, accounts and one meeting, the first time only."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from diemcau.accounts.services import create_demo_accounts
from diemcau.meetings import services
from diemcau.meetings.models import Meeting, MeetingKind
from diemcau.orgs import services as org_services
from diemcau.orgs.models import Site, SiteKind

SAMPLE = Path(__file__).resolve().parents[3] / "orgs" / "fixtures" / "sites-sample.csv"


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
