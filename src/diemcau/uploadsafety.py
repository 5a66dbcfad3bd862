"""Uploaded files, checked before anything parses them (issue 11, item 11).

Three things, each before the file costs the server more than its size:

- **Size while it arrives.** Django's DATA_UPLOAD_MAX_MEMORY_SIZE and
  FILE_UPLOAD_MAX_MEMORY_SIZE do not limit a file's size (the second only sends it to disk
  sooner). `LimitedUploadHandler`, first in FILE_UPLOAD_HANDLERS, stops receiving a file
  once it passes its page's limit (`upload_limit`) and hands the form a `RefusedUpload`,
  which `LimitedFileField` turns into "too big, the limit is N MB". Django's ASGI handler
  reads the whole body to disk before any upload handler runs, so `BodyLimit`, around the
  ASGI application, stops reading a body a little after the same limit.
- **ZIP bombs.** Office files (.docx, .xlsx, .pptx, OpenDocument) are ZIP archives;
  `check_zip` reads the central directory and refuses one that would unpack to far more than
  it weighs, or holds too many members, before openpyxl or anybody opens it. The declared
  sizes are a bound that holds: Python's zipfile never returns more than an entry declares,
  and a CRC mismatch fails.
- **Structure, not only the first bytes.** `check_structure`: a .docx holds
  `word/document.xml`, an .xlsx `xl/workbook.xml`, a .pptx `ppt/presentation.xml`, an
  OpenDocument file its `mimetype`; a PDF parses (pypdf). Old binary Office files (.doc,
  .xls, .ppt) keep the signature check of meetings/services.py: no maintained parser for
  them is installed.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any, TypeVar, cast

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser
from django.template.defaultfilters import filesizeformat
from django.urls import Resolver404, resolve
from django.utils import formats
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _

MIB = 1024 * 1024
# Room for a form's other fields (token, title, text) in the body, besides the file.
FORM_MARGIN = MIB
LIMIT_ATTRIBUTE = "upload_max_bytes"


class FileRefused(ValueError):
    """The file is refused; the message names it and says why."""


# --- size while it arrives -----------------------------------------------------------------


def default_limit() -> int:
    """The limit of a page that declares none: the largest file the app takes anywhere
    (meeting documents and directive files)."""
    return int(settings.DOCUMENT_MAX_BYTES)


View = TypeVar("View", bound=Callable[..., Any])


def upload_limit(limit: Callable[[], int]) -> Callable[[View], View]:
    """Declare the largest file (bytes) a view takes; read when a request arrives, so a
    setting changed in a test or at run time counts."""

    def mark(view: View) -> View:
        setattr(view, LIMIT_ATTRIBUTE, limit)
        return view

    return mark


def limit_for(path_info: str) -> int:
    """The upload limit of the view at `path_info`."""
    try:
        match = resolve(path_info)
    except Resolver404:
        return default_limit()
    limit = getattr(match.func, LIMIT_ATTRIBUTE, None)
    return int(limit()) if limit is not None else default_limit()


def megabytes(size: int) -> str:
    """A limit in MB as people read it: 25, 2,5 (Vietnamese decimal comma)."""
    value = size / MIB
    if value == int(value):
        return str(formats.number_format(int(value)))
    return str(formats.number_format(max(value, 0.1), decimal_pos=1))


def too_big_message(name: str, limit: int) -> str:
    return _("%(name)s is too big: the limit is %(limit)s MB.") % {
        "name": name,
        "limit": megabytes(limit),
    }


class RefusedUpload(UploadedFile[bytes]):
    """Stands in a form's data for a file whose upload was stopped at the limit: it has the
    file's name and no content."""

    def __init__(self, name: str, received: int, limit: int) -> None:
        super().__init__(io.BytesIO(), name=name, size=received)
        self.limit = limit


class LimitedFileField(forms.FileField):
    """A file field that says "too big" for a file `LimitedUploadHandler` stopped."""

    def to_python(self, data: Any) -> Any:
        if isinstance(data, RefusedUpload):
            raise ValidationError(too_big_message(data.name or "", data.limit), code="too_big")
        return super().to_python(data)


class LimitedUploadHandler(FileUploadHandler):
    """Stops an upload as soon as a file passes the limit of the page it is sent to.

    It takes over the parsing (handle_raw_input) only to run Django's own parser with the
    request's handlers and then add a `RefusedUpload` for the file it stopped, so the form
    can say why the file is missing. Fields after that file in the form are not read.
    """

    def __init__(self, request: Any = None) -> None:
        super().__init__(request)
        self.limit = limit_for(request.path_info) if request is not None else default_limit()
        self.refused: list[tuple[str, RefusedUpload]] = []
        self._parsing = False

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> tuple[QueryDict, MultiValueDict[str, UploadedFile[Any]]] | None:
        if self._parsing or self.request is None:
            return None  # the inner parser below: parse as usual, with this handler first
        self._parsing = True
        try:
            # cast: django-stubs types this stream IO[bytes] here and a protocol there.
            stream = cast(Any, input_data)
            parser = MultiPartParser(META, stream, self.request.upload_handlers, encoding)
            post, files = parser.parse()
        finally:
            self._parsing = False
        for field, upload in self.refused:
            files.appendlist(field, upload)
        return post, files

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if self.content_length is not None and self.content_length > self.limit:
            self._refuse(self.content_length)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self._refuse(start + len(raw_data))
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) keeps the file

    def _refuse(self, received: int) -> None:
        name = str(self.file_name or "")
        self.refused.append((self.field_name, RefusedUpload(name, received, self.limit)))
        # connection_reset: do not read the rest of the body.
        raise StopUpload(connection_reset=True)


# As django-stubs types Django's own ASGI handlers.
Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: a request body is read up to its page's upload limit plus
    FORM_MARGIN, then ends there for the application.

    Django's ASGI handler spools the whole body to a file before the view (and the upload
    handlers) run; without this a 1 GB upload would be written to disk first. The body
    given to Django ends early, so `LimitedUploadHandler` stops the file and the page
    answers "too big" at once; what the client still sends is not stored.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = limit_for(_path_info(scope)) + FORM_MARGIN
        received = 0
        cut = False

        async def limited() -> Message:
            nonlocal received, cut
            if cut:
                # Django listens for a disconnect while the view runs, and stops listening
                # once the response is sent. Reading on to find one would pull in the rest
                # of the body; leaving it unread keeps the client waiting (the server's
                # flow control) until the answer goes out, then the server drops it.
                await asyncio.Event().wait()
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                if received + len(body) > cap:
                    cut = True
                    message = {
                        "type": "http.request",
                        "body": body[: cap - received],
                        "more_body": False,
                    }
                received += len(body)
            return message

        await self.app(scope, limited, send)


def _path_info(scope: Scope) -> str:
    """The path as Django's URL resolver sees it (without the script prefix)."""
    path = str(scope.get("path", "/"))
    root = getattr(settings, "FORCE_SCRIPT_NAME", None) or str(scope.get("root_path", ""))
    return path.removeprefix(root.rstrip("/")) or "/"


# --- ZIP bombs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ZipLimits:
    max_members: int
    max_unpacked: int  # bytes, every member together
    # Unpacked size over packed size, for an archive that unpacks to more than RATIO_FLOOR.
    # Office XML packs 5 to 20 times; the bomb of issue 11 packed 3,000 times.
    max_ratio: int


RATIO_FLOOR = 10 * MIB

# A list of sites: MAX_ROWS rows of a few short columns is a few MB of sheet XML.
SPREADSHEET = ZipLimits(max_members=1000, max_unpacked=50 * MIB, max_ratio=100)
# Documents people open in Word, Excel or PowerPoint, pictures included.
DOCUMENT = ZipLimits(max_members=10_000, max_unpacked=1024 * MIB, max_ratio=100)


def check_zip(archive: zipfile.ZipFile, packed: int, name: str, limits: ZipLimits) -> None:
    """Refuse an archive whose central directory promises too much, before it is read."""
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise FileRefused(
            _("%(name)s holds %(count)d files inside it; the limit is %(limit)d.")
            % {"name": name, "count": len(members), "limit": limits.max_members}
        )
    unpacked = sum(m.file_size for m in members)
    if unpacked > limits.max_unpacked:
        raise FileRefused(
            _("%(name)s would unpack to %(size)s; the limit is %(limit)s MB.")
            % {
                "name": name,
                "size": filesizeformat(unpacked),
                "limit": megabytes(limits.max_unpacked),
            }
        )
    if unpacked > RATIO_FLOOR and unpacked > max(packed, 1) * limits.max_ratio:
        raise FileRefused(
            _(
                "%(name)s would unpack to %(size)s, %(ratio)d times its own size; the limit "
                "is %(limit)d times (a file packed this tightly is a ZIP bomb, not a document)."
            )
            % {
                "name": name,
                "size": filesizeformat(unpacked),
                "ratio": unpacked // max(packed, 1),
                "limit": limits.max_ratio,
            }
        )


# --- structure ---------------------------------------------------------------------------

# Office Open XML (ECMA-376): the main part each kind of file holds.
OOXML_MAIN_PART = {
    ".docx": "word/document.xml",
    ".xlsx": "xl/workbook.xml",
    ".pptx": "ppt/presentation.xml",
}
# OpenDocument (OASIS ODF): the first member, `mimetype`, names the kind of document.
ODF_MIMETYPE = {
    ".odt": b"application/vnd.oasis.opendocument.text",
    ".ods": b"application/vnd.oasis.opendocument.spreadsheet",
    ".odp": b"application/vnd.oasis.opendocument.presentation",
}


def check_structure(upload: IO[bytes], name: str, size: int) -> None:
    """Refuse a file whose inside is not what its extension says (.docx, .xlsx, .pptx,
    OpenDocument, .pdf). Other extensions are left to the caller."""
    suffix = PurePath(name).suffix.lower()
    upload.seek(0)
    try:
        if suffix in OOXML_MAIN_PART or suffix in ODF_MIMETYPE:
            _check_office(upload, name, size, suffix)
        elif suffix == ".pdf":
            _check_pdf(upload, name)
    finally:
        upload.seek(0)


def _not_a(name: str, suffix: str) -> FileRefused:
    return FileRefused(
        _("%(name)s is damaged or is not a %(suffix)s document.") % {"name": name, "suffix": suffix}
    )


def _check_office(upload: IO[bytes], name: str, size: int, suffix: str) -> None:
    try:
        with zipfile.ZipFile(upload) as archive:
            check_zip(archive, size, name, DOCUMENT)
            names = set(archive.namelist())
            if suffix in OOXML_MAIN_PART:
                if OOXML_MAIN_PART[suffix] not in names:
                    raise _not_a(name, suffix)
            elif "mimetype" not in names or (
                archive.read("mimetype").strip() != ODF_MIMETYPE[suffix]
            ):
                raise _not_a(name, suffix)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise _not_a(name, suffix) from exc


def _check_pdf(upload: IO[bytes], name: str) -> None:
    from pypdf import PdfReader

    try:
        reader = PdfReader(upload)
        # An encrypted PDF is still a PDF; its pages cannot be counted without the password.
        if not reader.is_encrypted and len(reader.pages) == 0:
            raise _not_a(name, ".pdf")
    except FileRefused:
        raise
    except Exception as exc:  # pypdf raises many types for a damaged file
        raise _not_a(name, ".pdf") from exc
