"""Every environment variable is read and checked in `diemcau.config` (STYLE.md: one
settings module, from the environment); a bad value stops start-up naming the variable,
the value and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import diemcau
from diemcau import config
from diemcau.live import media_policy
from diemcau.live.actions import NOT_ALLOWED, NOT_LIVE, Actor, Refused
from diemcau.meetings.models import Meeting, MeetingStatus
from tests.conftest import Org


def test_whole_number_out_of_range_or_not_a_number_is_refused_naming_it() -> None:
    for raw in ("fast", "1.5", "1000", "200000000"):
        with pytest.raises(config.ConfigError) as info:
            config.app_settings({"DIEMCAU_JANUS_ROOM_BITRATE": raw})
        assert str(info.value) == (
            f"DIEMCAU_JANUS_ROOM_BITRATE must be a whole number from 64000 to 100000000 "
            f"(got {raw!r})"
        )


def test_whole_number_within_bounds_is_taken_and_empty_means_default() -> None:
    assert config.env_int("N", 7, min=1, max=10, environ={"N": " 10 "}) == 10
    assert config.env_int("N", 7, min=1, max=10, environ={"N": ""}) == 7
    assert config.env_int("N", 7, min=1, max=10, environ={}) == 7


def test_switch_takes_only_0_1_or_empty() -> None:
    assert config.env_bool("DIEMCAU_DEBUG", environ={"DIEMCAU_DEBUG": "1"}) is True
    for off in ("", "0"):
        assert config.env_bool("DIEMCAU_DEBUG", environ={"DIEMCAU_DEBUG": off}) is False
    assert config.env_bool("DIEMCAU_DEBUG", environ={}) is False
    for raw in ("true", "yes", "on", "2"):
        with pytest.raises(config.ConfigError, match=rf"DIEMCAU_DEBUG must be 1 .*'{raw}'"):
            config.app_settings({"DIEMCAU_DEBUG": raw})
    with pytest.raises(config.ConfigError, match=r"DIEMCAU_ALLOW_MULTIPLE_MAIN_SITES.*'True'"):
        config.app_settings({"DIEMCAU_ALLOW_MULTIPLE_MAIN_SITES": "True"})


def test_list_is_split_on_commas_without_spaces_or_empty_items() -> None:
    env = {"DIEMCAU_CSRF_TRUSTED_ORIGINS": " https://a.vn, ,https://b.vn,"}
    assert config.app_settings(env).csrf_trusted_origins == ("https://a.vn", "https://b.vn")


def test_allowed_hosts_unset_means_the_fronts_names_set_means_exactly_these() -> None:
    assert config.app_settings({}).allowed_hosts is None
    env = {"DIEMCAU_ALLOWED_HOSTS": "hop.vn,10.0.0.5"}
    assert config.app_settings(env).allowed_hosts == ("hop.vn", "10.0.0.5")


@pytest.mark.parametrize("raw", ["40000", "4000-3000", "80-90", "20000-70000", "a-b", "-"])
def test_port_range_that_is_not_low_high_is_refused_naming_it(raw: str) -> None:
    with pytest.raises(config.ConfigError) as info:
        config.rtp_ports({"DIEMCAU_RTP_PORTS": raw})
    assert str(info.value).startswith("DIEMCAU_RTP_PORTS must be a port range LOW-HIGH")
    assert f"(got {raw!r})" in str(info.value)


def test_port_range_is_parsed() -> None:
    ports = config.rtp_ports({"DIEMCAU_RTP_PORTS": "40000-40999"})
    assert (ports.min, ports.max, ports.text) == (40000, 40999, "40000-40999")


def test_log_level_is_one_of_four() -> None:
    assert config.app_settings({"DIEMCAU_LOG": "warning"}).log_level == "WARNING"
    with pytest.raises(
        config.ConfigError, match=r"DIEMCAU_LOG must be one of DEBUG, INFO, WARNING, ERROR.*'loud'"
    ):
        config.app_settings({"DIEMCAU_LOG": "loud"})


def test_url_of_a_scheme_we_do_not_run_is_refused_without_showing_its_password() -> None:
    with pytest.raises(config.ConfigError) as info:
        config.app_settings({"DATABASE_URL": "mysql://root:hunter2@db/x"})
    assert str(info.value).startswith("DATABASE_URL must be a URL starting with sqlite://")
    assert "mysql://" in str(info.value)
    assert "hunter2" not in str(info.value)
    with pytest.raises(config.ConfigError, match=r"REDIS_URL must be a URL starting with redis://"):
        config.app_settings({"REDIS_URL": "127.0.0.1:6379"})
    env = {"DATABASE_URL": "postgres://u@h:5432/n", "REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert config.app_settings(env).database_url == "postgres://u@h:5432/n"
    assert config.app_settings(env).redis_url == "redis://127.0.0.1:6379/0"


def test_an_empty_environment_gives_the_defaults() -> None:
    assert config.app_settings({}) == config.AppSettings(
        debug=False,
        allowed_hosts=None,
        csrf_trusted_origins=(),
        database_url="",
        redis_url="",
        login_max_failures=5,
        login_lockout_seconds=900,
        hsts_seconds=365 * 24 * 3600,
        document_max_bytes=25 * 1024 * 1024,
        allow_multiple_main_sites=False,
        join_link_grace_seconds=6 * 3600,
        janus_token_ttl_seconds=4 * 3600,
        janus_room_bitrate=1536000,
        log_level="INFO",
        rtp_ports=config.PortRange(20000, 40000),
    )
    assert config.rtp_ports({}).text == "20000-40000"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("DIEMCAU_LOGIN_MAX_FAILURES", "0"),
        ("DIEMCAU_LOGIN_LOCKOUT_SECONDS", "15m"),
        ("DIEMCAU_HSTS_SECONDS", "-1"),
        ("DIEMCAU_DOCUMENT_MAX_BYTES", "25MB"),
        ("DIEMCAU_JOIN_LINK_GRACE_SECONDS", "99999999"),
        ("DIEMCAU_JANUS_TOKEN_TTL_SECONDS", "10"),
    ],
)
def test_each_number_setting_refuses_a_bad_value_naming_it(name: str, raw: str) -> None:
    with pytest.raises(config.ConfigError, match=rf"^{name} must be a whole number .*'{raw}'\)$"):
        config.app_settings({name: raw})


def test_media_access_refusals_carry_a_code(meeting: Meeting, org: Org) -> None:
    # A scheduled meeting has no room yet; a live one with a room, but no site to act for.
    with pytest.raises(Refused) as info:
        media_policy.access_for(Actor(meeting.pk, org.site_a.pk, hq=False))
    assert info.value.code == NOT_LIVE
    Meeting.objects.filter(pk=meeting.pk).update(status=MeetingStatus.LIVE, janus_room=1234)
    with pytest.raises(Refused) as info:
        media_policy.access_for(Actor(meeting.pk, None, hq=False))
    assert info.value.code == NOT_ALLOWED


ENV_READ = re.compile(r"\b(environ|getenv|putenv|unsetenv)\b")
ALLOWED_READS = {
    ("asgi.py", 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diemcau.settings")'),
    ("cli.py", 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diemcau.settings")'),
}


def test_no_module_but_config_reads_the_environment() -> None:
    root = Path(diemcau.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative == "config.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ENV_READ.search(line) and (relative, line.strip()) not in ALLOWED_READS:
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []
