from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

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
