from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

import diemcau.orgs
from diemcau.cli import main
from diemcau.meetings.models import Meeting, MeetingStatus
from diemcau.orgs.models import Site

SAMPLE = Path(diemcau.orgs.__file__).parent / "fixtures" / "sites-sample.csv"


def test_import_sites_is_spelled_with_a_dash(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Run the command the CLI resolves, in this process; Django's own runner would close
    # the test's database connection when it finishes.
    def run(argv: list[str]) -> None:
        call_command(*argv[1:])

    monkeypatch.setattr("django.core.management.execute_from_command_line", run)
    main(["diemcau", "import-sites", str(SAMPLE)])
    assert Site.objects.count() == 26


def test_demo_loads_once_and_is_safe_to_rerun(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("demo")
    first = capsys.readouterr().out
    assert "admin" in first and Site.objects.count() == 26
    upcoming = Meeting.objects.get(status=MeetingStatus.SCHEDULED)
    assert upcoming.invitations.count() == 26
    # A meeting already held, recorded through the live services: minutes and reports.
    held = Meeting.objects.get(status=MeetingStatus.ENDED)
    assert held.roll_calls.get().answers.count() == 26
    assert held.motions.get().ballots.count() == 26
    assert not held.attendance.filter(left_at__isnull=True).exists()
    call_command("demo")
    again = capsys.readouterr().out
    assert "admin" not in again  # passwords are shown once only
    assert Site.objects.count() == 26 and Meeting.objects.count() == 2


def test_doctor_says_what_to_fix_when_janus_is_down(
    db: None, settings: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from diemcau.config import JanusSettings

    settings.JANUS = JanusSettings(  # type: ignore[attr-defined]
        url="ws://127.0.0.1:9",
        admin_key="k" * 32,
        token_auth_secret="t" * 32,
        admin_secret="a" * 32,
        embedded=True,
        public_url="ws://127.0.0.1:9",
    )
    with pytest.raises(SystemExit) as exit_info:
        call_command("doctor")
    out = capsys.readouterr().out
    assert exit_info.value.code == 1
    assert "ws://127.0.0.1:9" in out and "diemcau serve" in out


def test_a_bad_setting_stops_the_command_naming_the_variable(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DIEMCAU_DATA_DIR": str(tmp_path), "DIEMCAU_JANUS_ROOM_BITRATE": "fast"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "diemcau", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "DIEMCAU_JANUS_ROOM_BITRATE" in done.stderr and "'fast'" in done.stderr
    assert "Traceback" not in done.stderr
