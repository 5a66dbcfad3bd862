from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from diemcau import config


@pytest.mark.parametrize(
    "path", ["diemcau/site.css", "vendor/janus/janus.js", "vendor/adapter/adapter.min.js"]
)
def test_static_files_are_found(path: str) -> None:
    assert finders.find(path), path


def test_secrets_are_generated_once_with_mode_600(tmp_path: Path) -> None:
    first = config.load_secrets(tmp_path)
    assert set(first) == set(config.SECRET_NAMES)
    assert all(len(v) >= 32 for v in first.values())
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert config.load_secrets(tmp_path) == first
    assert config.load_secrets(tmp_path / "other") != first


def test_placeholder_secret_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text(json.dumps({"django_secret_key": "changeme"}))
    with pytest.raises(config.ConfigError, match="django_secret_key"):
        config.load_secrets(tmp_path)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_folder_is_made_0700_and_a_looser_one_tightened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = tmp_path / "fresh" / "data"
    monkeypatch.setenv("DIEMCAU_DATA_DIR", str(fresh))
    assert config.data_dir() == fresh
    assert _mode(fresh) == 0o700
    older = tmp_path / "older"
    older.mkdir()
    older.chmod(0o755)
    monkeypatch.setenv("DIEMCAU_DATA_DIR", str(older))
    config.data_dir()
    assert _mode(older) == 0o700


def test_database_file_is_made_0600_and_files_left_from_before_tightened(tmp_path: Path) -> None:
    db = tmp_path / "diemcau.sqlite3"
    config.private_file(db)
    assert _mode(db) == 0o600 and db.stat().st_size == 0  # SQLite takes it as a new database
    wal = tmp_path / "diemcau.sqlite3-wal"
    wal.touch()
    for path in (db, wal):
        path.chmod(0o644)
    config.private_file(db)
    assert (_mode(db), _mode(wal)) == (0o600, 0o600)


def _diemcau(*args: str, data: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.update(DIEMCAU_DATA_DIR=str(data), **env)
    done = subprocess.run(
        [sys.executable, "-m", "diemcau", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


def test_after_migrate_the_data_folder_is_0700_and_the_database_0600(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _diemcau("migrate", "--noinput", "-v", "0", data=data)
    database = data / "diemcau.sqlite3"
    assert database.stat().st_size > 0
    assert _mode(data) == 0o700
    # The database and SQLite's own files beside it (-wal, -shm), whichever exist now.
    assert {p.name: _mode(p) for p in data.glob("diemcau.sqlite3*")} == {
        p.name: 0o600 for p in data.glob("diemcau.sqlite3*")
    }
    assert _mode(database) == 0o600
    # A folder and database made looser by hand (or by an older version): tightened on start.
    data.chmod(0o755)
    database.chmod(0o644)
    _diemcau("check", data=data)
    assert (_mode(data), _mode(database)) == (0o700, 0o600)


def test_hsts_is_sent_behind_https(client: Client, db: None) -> None:
    # What the front says for a browser on HTTPS (X-Forwarded-Proto).
    response = client.get(reverse("accounts:login"), headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_hsts_is_not_sent_over_plain_http(client: Client, db: None) -> None:
    response = client.get(reverse("accounts:login"))
    assert "Strict-Transport-Security" not in response.headers


def test_without_a_front_hsts_is_off(tmp_path: Path) -> None:
    """DIEMCAU_FRONT=none is plain HTTP (tests, benchmarks): nothing may pin HTTPS."""
    shown = _diemcau(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECURE_HSTS_SECONDS)",
        data=tmp_path / "data",
        DIEMCAU_FRONT="none",
    )
    assert shown.split()[-1] == "0"
