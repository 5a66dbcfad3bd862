"""Uploaded import files waiting for confirmation, kept under DATA_DIR/uploads.

The file is kept on disk (not in the session: it can be megabytes, and sessions live in
the database) under a random name; the original name and the uploader are kept beside it
so that only the person who uploaded a file can preview or confirm it.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

# Files nobody confirmed are removed after this long.
KEEP_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StoredUpload:
    token: str
    filename: str
    data: bytes


def upload_dir() -> Path:
    path = Path(settings.DATA_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _paths(token: str) -> tuple[Path, Path]:
    folder = upload_dir()
    return folder / f"{token}.bin", folder / f"{token}.json"


def store(file: UploadedFile[Any], user_id: int) -> str:
    purge_old()
    token = secrets.token_hex(16)
    data_path, meta_path = _paths(token)
    with data_path.open("wb") as out:
        for chunk in file.chunks():
            out.write(chunk)
    name = PurePath(file.name or "upload").name
    meta_path.write_text(json.dumps({"filename": name, "user": user_id}), encoding="utf-8")
    return token


def load(token: str, user_id: int) -> StoredUpload | None:
    """The stored file, or None if the token is unknown, expired or someone else's."""
    if not _TOKEN.match(token):
        return None
    data_path, meta_path = _paths(token)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("user") != user_id:
            return None
        return StoredUpload(
            token=token, filename=str(meta["filename"]), data=data_path.read_bytes()
        )
    except (OSError, ValueError, KeyError):
        return None


def discard(token: str) -> None:
    if _TOKEN.match(token):
        for path in _paths(token):
            path.unlink(missing_ok=True)


def purge_old() -> None:
    cutoff = time.time() - KEEP_SECONDS
    for path in upload_dir().iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            continue  # removed by a concurrent request
