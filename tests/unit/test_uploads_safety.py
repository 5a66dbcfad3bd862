"""Uploads are checked before anything parses them (issue 11, item 11): ZIP bombs, the
structure of documents, and the size limit while a file arrives."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import get_random_string
from pytest_django.fixtures import Settings as SettingsWrapper

from diemcau import uploadsafety
from diemcau.accounts.models import Role
from diemcau.meetings import services
from diemcau.meetings.models import Meeting
from diemcau.orgs import importer
from diemcau.orgs.forms import SiteImportForm, import_max_bytes
from tests.conftest import MakeUser
from tests.support import officefiles
from tests.support.officefiles import MIB

BOUNDARY = "----diemcau-test-boundary"
HEADER = ",".join(importer.REQUIRED_COLUMNS)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.fixture
def no_openpyxl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the workbook is opened: the checks must come before openpyxl."""
    import openpyxl

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("openpyxl opened a file that should have been refused")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)


# --- ZIP bombs in the site list -------------------------------------------------------------


def _sheet() -> bytes:
    return officefiles.xlsx([list(importer.REQUIRED_COLUMNS)])


def test_site_list_that_unpacks_a_thousand_times_its_size_is_refused_unopened(
    db: None, no_openpyxl: None
) -> None:
    data = officefiles.bomb(_sheet(), unpacked=16 * MIB)
    assert len(data) < 100_000
    plan = importer.build_plan(data, "danh-sach.xlsx")
    assert not plan.ok
    message = str(plan.problems[0])
    assert "danh-sach.xlsx" in message and "the limit is 100 times" in message


def test_site_list_that_unpacks_beyond_the_limit_is_refused_unopened(
    db: None, no_openpyxl: None
) -> None:
    plan = importer.build_plan(officefiles.bomb(_sheet(), unpacked=64 * MIB), "big.xlsx")
    assert not plan.ok
    assert "big.xlsx would unpack to" in str(plan.problems[0])
    assert "the limit is 50 MB" in str(plan.problems[0])


def test_site_list_with_thousands_of_members_is_refused_unopened(
    db: None, no_openpyxl: None
) -> None:
    members = {"xl/workbook.xml": b"<workbook/>"}
    members |= {f"xl/media/{i}.xml": b"" for i in range(1001)}
    plan = importer.build_plan(officefiles.zip_of(members), "many.xlsx")
    assert not plan.ok
    assert str(plan.problems[0]) == "many.xlsx holds 1002 files inside it; the limit is 1000."


def test_a_real_site_list_workbook_passes_the_zip_check(db: None) -> None:
    plan = importer.build_plan(_sheet(), "sites.xlsx")
    # Read by openpyxl: the header is there, the sheet has no sites.
    assert [p.message for p in plan.problems] == ["The file has a header but no sites."]


# --- documents by their structure -----------------------------------------------------------


ODT = b"application/vnd.oasis.opendocument.text"


@pytest.mark.parametrize(
    ("name", "content", "ok"),
    [
        ("agenda.pdf", officefiles.pdf(), True),
        ("agenda.docx", officefiles.docx(), True),
        ("table.xlsx", officefiles.xlsx(), True),
        ("slides.pptx", officefiles.pptx(), True),
        ("notes.odt", officefiles.zip_of({"mimetype": ODT, "content.xml": b"<x/>"}), True),
        ("header-only.pdf", b"%PDF-1.7 rest", False),
        ("truncated.pdf", officefiles.pdf()[:700], False),
        ("sheet.docx", officefiles.xlsx(), False),
        ("letter.xlsx", officefiles.docx(), False),
        ("archive.pptx", officefiles.zip_of({"a.txt": b"x"}), False),
        ("sheet.odt", officefiles.zip_of({"mimetype": b"application/zip"}), False),
        ("bomb.docx", officefiles.bomb(officefiles.docx(), unpacked=16 * MIB), False),
    ],
)
def test_documents_are_checked_by_their_structure(name: str, content: bytes, ok: bool) -> None:
    upload = SimpleUploadedFile(name, content)
    if ok:
        services.check_document(upload)
        assert upload.tell() == 0  # left at the start, for saving
    else:
        with pytest.raises(ValidationError) as refused:
            services.check_document(upload)
        assert name in " ".join(refused.value.messages)


def test_refused_document_is_not_attached(meeting: Meeting) -> None:
    with pytest.raises(
        ValidationError, match=re.escape("archive.docx is damaged or is not a .docx")
    ):
        services.add_document(
            meeting, SimpleUploadedFile("archive.docx", officefiles.zip_of({"a": b"x"})), "", None
        )
    assert meeting.documents.count() == 0


# --- the size limit while the file arrives ----------------------------------------------------


class HugeBody(io.RawIOBase):
    """A multipart body announcing a file of `size` bytes, made as it is read; reading far
    past `read_limit` is what the checks must prevent, so it fails the test."""

    def __init__(self, filename: str, size: int, read_limit: int, fields: str = "") -> None:
        self.head = (
            fields
            + f"--{BOUNDARY}\r\n"
            + f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            + "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.length = len(self.head) + size
        self.read_limit = read_limit
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.position >= self.length:
            return 0
        if self.position > self.read_limit:
            raise AssertionError(f"read {self.position} bytes of an upload over the limit")
        n = min(len(buffer), self.length - self.position, 64 * 1024)
        start = self.position
        head = self.head[start : start + n]
        buffer[: len(head)] = head
        buffer[len(head) : n] = bytes(n - len(head))
        self.position += n
        return n


def _field(name: str, value: str) -> str:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'


def test_a_1_gb_upload_is_stopped_at_the_limit_and_the_form_says_so(db: None) -> None:
    limit = import_max_bytes()
    body = HugeBody("sites.xlsx", 1024 * MIB, read_limit=limit + 4 * MIB)
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": reverse("orgs:import_upload"),
            "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
            "CONTENT_LENGTH": str(body.length),
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "wsgi.input": body,
            "wsgi.url_scheme": "http",
        }
    )
    files = request.FILES
    assert body.position <= limit + 1 * MIB
    assert isinstance(files["file"], uploadsafety.RefusedUpload)
    form = SiteImportForm({}, files)
    assert not form.is_valid()
    assert form.errors["file"] == ["sites.xlsx is too big: the limit is 2 MB."]


def test_document_page_says_the_file_is_too_big_and_attaches_nothing(
    client: Client, meeting: Meeting, make_user: MakeUser, settings: SettingsWrapper
) -> None:
    settings.DOCUMENT_MAX_BYTES = MIB
    client.force_login(make_user(Role.HQ_OPERATOR))
    big = SimpleUploadedFile("agenda.pdf", officefiles.pdf() + bytes(MIB))
    response = client.post(
        reverse("meetings:document_upload", args=[meeting.pk]),
        {"title": "Chương trình", "file": big},
        headers={"Accept-Language": "en"},
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["agenda.pdf is too big: the limit is 1 MB."]
    assert meeting.documents.count() == 0


@contextlib.contextmanager
def _keep_test_connection() -> Iterator[None]:
    """What Django's test client does: a request must not close the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_asgi_app_stops_reading_a_1_gb_upload_and_answers_too_big(
    client: Client, make_user: MakeUser, settings: SettingsWrapper
) -> None:
    from diemcau.asgi import application

    client.force_login(make_user(Role.HQ_OPERATOR))
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = get_random_string(32)
    limit = import_max_bytes()
    body = HugeBody(
        "sites.xlsx",
        1024 * MIB,
        read_limit=limit + 8 * MIB,
        fields=_field("csrfmiddlewaretoken", csrf),
    )
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": reverse("orgs:import_upload"),
        "raw_path": reverse("orgs:import_upload").encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
            (b"content-length", str(body.length).encode()),
            (b"accept-language", b"en"),
            (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}; csrftoken={csrf}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = body.read(64 * 1024)
        if not chunk:
            await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.request", "body": chunk, "more_body": body.position < body.length}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with _keep_test_connection():
        async_to_sync(application)(scope, receive, send)
    assert body.position <= limit + uploadsafety.FORM_MARGIN + 64 * 1024
    assert sent[0]["status"] == 200
    page = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert "sites.xlsx is too big: the limit is 2 MB." in page
