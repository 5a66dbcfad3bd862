"""Read a sites spreadsheet (CSV or XLSX), check every row, and plan the import.

Nothing here writes to the database: `build_plan` reads the file and the current units
and sites, and returns an `ImportPlan` that either lists every problem (row, column,
value, message) or says, row by row, what `services.import_sites` will create or change.

The columns are those of `fixtures/sites-sample.csv`. Row numbers are the ones a person
sees in the spreadsheet: the header is row 1, the first site is row 2.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import formats
from django.utils.translation import gettext as _

from diemcau import uploadsafety
from diemcau.orgs.countries import ISO_3166_ALPHA2
from diemcau.orgs.models import Site, SiteKind, Unit, site_code_validator

REQUIRED_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "unit",
    "parent_unit",
    "kind",
    "province",
    "country",
    "latitude",
    "longitude",
    "expected_delegates",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("contact_name", "contact_phone", "contact_email", "active")
KNOWN_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# Columns whose cell may not be empty.
REQUIRED_VALUES: tuple[str, ...] = ("code", "name", "unit", "kind")

ACCEPTED_EXTENSIONS: tuple[str, ...] = (".csv", ".xlsx")
# The organisation has about 70 sites; a file far larger than this is a mistake (or an
# attack on the server's memory), not an organisation.
MAX_ROWS = 5000
# Excel keeps formatting on blank rows; stop scanning after this many blank rows in a row.
MAX_BLANK_RUN = 1000

# Lengths of the model's text fields, checked here so a long value is reported with its row
# instead of failing inside the database.
MAX_LENGTHS: dict[str, int] = {
    "code": 32,
    "name": 200,
    "unit": 200,
    "parent_unit": 200,
    "province": 100,
    "contact_name": 200,
    "contact_phone": 50,
    "contact_email": 254,
}

# Accepted spellings of `kind`, compared in lower case. Vietnamese words are accepted
# because HQ staff fill the sheet in Vietnamese.
KIND_ALIASES: dict[str, str] = {
    "main": SiteKind.MAIN,
    "chính": SiteKind.MAIN,
    "điểm cầu chính": SiteKind.MAIN,
    "branch": SiteKind.BRANCH,
    "nhánh": SiteKind.BRANCH,
    "điểm cầu nhánh": SiteKind.BRANCH,
}
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "x", "có", "co"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "không", "khong"})

# Fields compared when a site already exists, in the order the preview shows them.
SITE_FIELDS: tuple[str, ...] = (
    "name",
    "unit",
    "kind",
    "province",
    "country",
    "latitude",
    "longitude",
    "expected_delegates",
    "contact_name",
    "contact_phone",
    "contact_email",
    "active",
)
COORDINATE_PLACES = Decimal("0.000001")  # the model keeps 6 decimal places


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with the file. `row` is None for problems with the whole file."""

    message: str
    row: int | None = None
    column: str | None = None
    value: str = ""

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(_("row %(row)d") % {"row": self.row})
        if self.column:
            where.append(_("column “%(column)s”") % {"column": self.column})
        if self.row is not None or self.column:
            where.append(_("value “%(value)s”") % {"value": self.value})
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class FileRejected(Exception):
    """The file as a whole cannot be read (wrong type, encoding, no header...)."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.problem = ImportProblem(message=message, column=column)


@dataclass
class Table:
    """The raw cells of a sheet: normalised header names and rows of text cells."""

    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (spreadsheet row number, column → cell)
    ignored_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SiteRow:
    """One valid row, converted to the model's types."""

    row: int
    code: str
    name: str
    unit: str
    parent_unit: str
    kind: str
    province: str
    country: str
    latitude: Decimal | None
    longitude: Decimal | None
    expected_delegates: int
    contact_name: str
    contact_phone: str
    contact_email: str
    active: bool
    # Optional columns present in the file: an absent column leaves the stored value alone.
    columns: frozenset[str]

    def value(self, name: str) -> Any:
        return getattr(self, name)


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any

    @property
    def label(self) -> str:
        return str(getattr(Site._meta.get_field(self.field), "verbose_name", self.field))

    def old_display(self) -> str:
        return display_value(self.old)

    def new_display(self) -> str:
        return display_value(self.new)


@dataclass(frozen=True)
class PlannedSite:
    row: int
    code: str
    name: str
    action: Action
    changes: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class PlannedUnit:
    name: str
    parent: str  # "" for a top-level unit
    old_parent: str | None = None  # set when an existing unit moves to another parent


@dataclass
class ImportPlan:
    filename: str
    sites: list[PlannedSite] = field(default_factory=list)
    new_units: list[PlannedUnit] = field(default_factory=list)
    moved_units: list[PlannedUnit] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: list[SiteRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, action: Action) -> int:
        return sum(1 for s in self.sites if s.action == action)

    @property
    def to_create(self) -> int:
        return self.count(Action.CREATE)

    @property
    def to_update(self) -> int:
        return self.count(Action.UPDATE)

    @property
    def unchanged(self) -> int:
        return self.count(Action.UNCHANGED)

    def summary(self) -> str:
        return _(
            "%(total)d sites: %(create)d to create, %(update)d to update, "
            "%(unchanged)d unchanged; %(units)d new units."
        ) % {
            "total": len(self.sites),
            "create": self.to_create,
            "update": self.to_update,
            "unchanged": self.unchanged,
            "units": len(self.new_units),
        }


def display_value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Decimal):
        return str(formats.localize(value.normalize()))
    if isinstance(value, int):
        return str(formats.localize(value))
    return str(value)


# ---------------------------------------------------------------------------------------
# Reading the file


def clean_text(value: str) -> str:
    """NFC (Vietnamese from a Mac may arrive decomposed), no stray or doubled spaces."""
    value = unicodedata.normalize("NFC", value).replace("\u00a0", " ")
    return re.sub(r"\s+", " ", value).strip()


def normalise_header(name: str) -> str:
    return re.sub(r"[\s-]+", "_", clean_text(name).lstrip("\ufeff").lower())


def sniff_binary(data: bytes) -> str | None:
    """Name the document type of a file that is clearly not a spreadsheet, else None."""
    signatures = (
        (b"%PDF", _("a PDF document")),
        (b"\x89PNG", _("a PNG image")),
        (b"\xff\xd8\xff", _("a JPEG image")),
        (b"GIF8", _("a GIF image")),
        (b"\xd0\xcf\x11\xe0", _("an old Office file (.xls or .doc)")),
        (b"Rar!", _("a RAR archive")),
        (b"7z\xbc\xaf", _("a 7-Zip archive")),
        (b"\x1f\x8b", _("a gzip archive")),
    )
    for magic, label in signatures:
        if data.startswith(magic):
            return label
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _("a WebP image")
    return None


def read_table(data: bytes, filename: str) -> Table:
    """Decide the file type from its content (not only its name) and read its cells."""
    extension = PurePath(filename).suffix.lower()
    if extension not in ACCEPTED_EXTENSIONS:
        raise FileRejected(
            _("Files of type “%(ext)s” are not accepted: upload a CSV or XLSX file.")
            % {"ext": extension or filename}
        )
    if not data.strip():
        raise FileRejected(_("The file is empty."))
    kind = sniff_binary(data)
    if kind is not None:
        raise FileRejected(
            _("This file is %(kind)s, not a spreadsheet: upload a CSV or XLSX file.")
            % {"kind": kind}
        )
    if data.startswith(b"PK\x03\x04"):
        return read_xlsx(data, PurePath(filename).name)
    if extension == ".xlsx":
        raise FileRejected(_("This file is not an Excel workbook (.xlsx)."))
    return read_csv(data)


def read_xlsx(data: bytes, filename: str = "") -> Table:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            # Before openpyxl unpacks anything: a 205 KB bomb took 640 MB and 10 s.
            uploadsafety.check_zip(
                archive, len(data), filename or _("The file"), uploadsafety.SPREADSHEET
            )
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise FileRejected(_("This file is damaged or not an Excel workbook (.xlsx).")) from exc
    except uploadsafety.FileRefused as exc:
        raise FileRejected(str(exc)) from exc
    if "xl/workbook.xml" not in names:
        if "word/document.xml" in names:
            raise FileRejected(_("This file is a Word document, not a spreadsheet."))
        if "ppt/presentation.xml" in names:
            raise FileRejected(_("This file is a PowerPoint presentation, not a spreadsheet."))
        raise FileRejected(_("This file is a ZIP archive, not an Excel workbook (.xlsx)."))

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise FileRejected(_("This Excel workbook is damaged and cannot be read.")) from exc
    try:
        sheet = workbook.worksheets[0]
        return _table_from_rows(
            [_xlsx_cell(c) for c in row] for row in sheet.iter_rows(values_only=True)
        )
    finally:
        workbook.close()


def _xlsx_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # repr gives the shortest text that round-trips (10.779, not 10.77899999).
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def read_csv(data: bytes) -> Table:
    if b"\x00" in data[:4096]:
        raise FileRejected(_("This file is not text: save the sheet as “CSV UTF-8” or as XLSX."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            _(
                "The file is not in UTF-8 (byte %(position)d). In Excel choose "
                "“Save as” → “CSV UTF-8 (comma delimited)”, or upload the XLSX file."
            )
            % {"position": exc.start + 1}
        ) from exc
    delimiter = detect_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return _table_from_rows(reader)
    except csv.Error as exc:
        raise FileRejected(_("The CSV file is malformed: %(error)s") % {"error": str(exc)}) from exc


def detect_delimiter(text: str) -> str:
    """Pick the delimiter that splits the header into the most known column names.

    Excel in a Vietnamese (or any comma-decimal) locale saves CSV with semicolons.
    """
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    best, best_score = ",", -1
    for candidate in (",", ";", "\t"):
        cells = next(csv.reader([first_line], delimiter=candidate), [])
        score = sum(1 for c in cells if normalise_header(c) in KNOWN_COLUMNS)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _table_from_rows(rows: Iterable[list[str]]) -> Table:
    iterator: Iterator[list[str]] = iter(rows)
    header: list[str] | None = None
    number = 0
    for cells in iterator:
        number += 1
        if any(clean_text(c) for c in cells):
            header = cells
            break
    if header is None:
        raise FileRejected(_("The file is empty."))
    if number != 1:
        # Row numbers in messages must match the sheet, so the header has to be row 1.
        raise FileRejected(
            _("The header must be on row 1 (found it on row %(row)d).") % {"row": number}
        )

    columns = [normalise_header(c) for c in header]
    seen: set[str] = set()
    for name in columns:
        if name and name in seen:
            raise FileRejected(
                _("Column “%(column)s” appears twice in the header.") % {"column": name},
                column=name,
            )
        seen.add(name)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise FileRejected(
            _("Missing required columns: %(columns)s. The header must have: %(expected)s.")
            % {"columns": ", ".join(missing), "expected": ", ".join(REQUIRED_COLUMNS)},
            column=", ".join(missing),
        )
    ignored = [c for c in columns if c and c not in KNOWN_COLUMNS]

    table_rows: list[tuple[int, dict[str, str]]] = []
    blank_run = 0
    for cells in iterator:
        number += 1
        if not any(clean_text(c) for c in cells):
            blank_run += 1
            if blank_run > MAX_BLANK_RUN:
                break
            continue
        blank_run = 0
        if len(table_rows) >= MAX_ROWS:
            raise FileRejected(
                _("The file has more than %(max)d rows; split it into smaller files.")
                % {"max": MAX_ROWS}
            )
        record = {
            name: cells[i] if i < len(cells) else ""
            for i, name in enumerate(columns)
            if name in KNOWN_COLUMNS
        }
        for name in KNOWN_COLUMNS:
            if name in seen:
                record.setdefault(name, "")
        table_rows.append((number, record))
    if not table_rows:
        raise FileRejected(_("The file has a header but no sites."))
    return Table(columns=[c for c in columns if c], rows=table_rows, ignored_columns=ignored)


# ---------------------------------------------------------------------------------------
# Checking rows


class _RowChecker:
    """Converts one row's cells, collecting every problem instead of stopping at the first."""

    def __init__(self, number: int, cells: dict[str, str], problems: list[ImportProblem]):
        self.number = number
        self.cells = cells
        self.problems = problems
        self.failed = False

    def fail(self, column: str, message: str, value: str | None = None) -> None:
        self.failed = True
        self.problems.append(
            ImportProblem(
                row=self.number,
                column=column,
                value=self.cells.get(column, "") if value is None else value,
                message=message,
            )
        )

    def text(self, column: str) -> str:
        value = clean_text(self.cells.get(column, ""))
        limit = MAX_LENGTHS.get(column)
        if not value and column in REQUIRED_VALUES:
            self.fail(column, _("This column is required."))
        elif limit is not None and len(value) > limit:
            self.fail(
                column,
                _("Too long: %(length)d characters, at most %(max)d.")
                % {"length": len(value), "max": limit},
            )
        return value

    def code(self) -> str:
        value = self.text("code")
        if value and len(value) <= MAX_LENGTHS["code"]:
            try:
                site_code_validator(value)
            except ValidationError:
                self.fail("code", _("Use 1–32 letters, digits, '-', '_' or '.' without spaces."))
        return value

    def kind(self) -> str:
        value = self.text("kind")
        if not value:
            return ""
        kind = KIND_ALIASES.get(value.lower())
        if kind is None:
            self.fail(
                "kind",
                _("Unknown kind: use “%(main)s” or “%(branch)s”.")
                % {"main": SiteKind.MAIN.value, "branch": SiteKind.BRANCH.value},
            )
            return ""
        return kind

    def country(self) -> str:
        value = self.text("country").upper()
        if not value:
            return "VN"  # the model's default: most sites are in Viet Nam
        if value not in ISO_3166_ALPHA2:
            self.fail(
                "country",
                _("Not an ISO 3166 two-letter country code (for example VN, LA, KH)."),
            )
        return value

    def coordinate(self, column: str, limit: int) -> Decimal | None:
        raw = clean_text(self.cells.get(column, ""))
        if not raw:
            return None
        # A decimal comma (10,779) comes from Excel in Vietnamese; a thousands separator
        # makes no sense in a coordinate, so a single comma can only be a decimal point.
        text = raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.fail(column, _("Not a number (use decimal degrees such as 10.7790)."))
            return None
        if not value.is_finite():
            self.fail(column, _("Not a number (use decimal degrees such as 10.7790)."))
            return None
        if not -limit <= value <= limit:
            self.fail(
                column, _("Out of range: must be between -%(max)d and %(max)d.") % {"max": limit}
            )
            return None
        return value.quantize(COORDINATE_PLACES)

    def delegates(self) -> int:
        raw = clean_text(self.cells.get("expected_delegates", ""))
        if not raw:
            return 0
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number != number.to_integral_value():
            self.fail("expected_delegates", _("Must be a whole number (0 or more)."))
            return 0
        if number < 0:
            self.fail("expected_delegates", _("Must not be negative."))
            return 0
        if number > 2_147_483_647:
            self.fail("expected_delegates", _("Too large."))
            return 0
        return int(number)

    def email(self) -> str:
        value = self.text("contact_email")
        if value:
            try:
                validate_email(value)
            except ValidationError:
                self.fail("contact_email", _("Not a valid e-mail address."))
        return value

    def active(self) -> bool:
        raw = clean_text(self.cells.get("active", "")).lower()
        if not raw or raw in TRUE_WORDS:
            return True
        if raw in FALSE_WORDS:
            return False
        self.fail("active", _("Use “yes” or “no” (or 1 / 0)."))
        return True


def check_rows(table: Table, problems: list[ImportProblem]) -> list[SiteRow]:
    """Convert every row; add each problem to `problems` (a bad cell becomes a default)."""
    present = frozenset(c for c in OPTIONAL_COLUMNS if c in table.columns)
    result: list[SiteRow] = []
    for number, cells in table.rows:
        check = _RowChecker(number, cells, problems)
        latitude = check.coordinate("latitude", 90)
        longitude = check.coordinate("longitude", 180)
        both_given = bool(clean_text(cells.get("latitude", ""))) == bool(
            clean_text(cells.get("longitude", ""))
        )
        if not both_given:
            missing = "longitude" if clean_text(cells.get("latitude", "")) else "latitude"
            check.fail(missing, _("Give both latitude and longitude, or neither."))
        site_row = SiteRow(
            row=number,
            code=check.code(),
            name=check.text("name"),
            unit=check.text("unit"),
            parent_unit=check.text("parent_unit"),
            kind=check.kind(),
            province=check.text("province"),
            country=check.country(),
            latitude=latitude,
            longitude=longitude,
            expected_delegates=check.delegates(),
            contact_name=check.text("contact_name"),
            contact_phone=check.text("contact_phone"),
            contact_email=check.email(),
            active=check.active(),
            columns=present,
        )
        if site_row.unit and site_row.parent_unit == site_row.unit:
            check.fail("parent_unit", _("A unit cannot be its own parent."))
        # Rows with problems still take part in the unit-tree and main-site checks, so
        # that one pass reports everything wrong with the file.
        result.append(site_row)
    return result


def _check_duplicate_codes(table: Table, problems: list[ImportProblem]) -> None:
    # Codes are compared without case: "csdn" and "CSDN" would be one room to a person.
    first_row: dict[str, int] = {}
    for number, cells in table.rows:
        code = clean_text(cells.get("code", ""))
        if not code:
            continue
        key = code.lower()
        if key in first_row:
            problems.append(
                ImportProblem(
                    row=number,
                    column="code",
                    value=code,
                    message=_("Duplicate code: already used on row %(row)d.")
                    % {"row": first_row[key]},
                )
            )
        else:
            first_row[key] = number


def _plan_units(rows: list[SiteRow], plan: ImportPlan, existing: dict[str, Unit]) -> None:
    """Check the unit tree the file describes against the database; plan new/moved units."""
    before = len(plan.problems)
    existing_parent = {
        name: (unit.parent.name if unit.parent_id and unit.parent else "")
        for name, unit in existing.items()
    }
    stated: dict[str, tuple[str, int]] = {}  # unit → (parent named in the file, first row)
    in_file: set[str] = set()
    rows = [r for r in rows if r.unit]
    for row in rows:
        in_file.add(row.unit)
        if not row.parent_unit or row.parent_unit == row.unit:
            continue  # a unit named as its own parent is already reported by check_rows
        earlier = stated.get(row.unit)
        if earlier is None:
            stated[row.unit] = (row.parent_unit, row.row)
        elif earlier[0] != row.parent_unit:
            plan.problems.append(
                ImportProblem(
                    row=row.row,
                    column="parent_unit",
                    value=row.parent_unit,
                    message=_(
                        "Unit “%(unit)s” has two different parents: “%(first)s” on row "
                        "%(first_row)d and “%(second)s” here."
                    )
                    % {
                        "unit": row.unit,
                        "first": earlier[0],
                        "first_row": earlier[1],
                        "second": row.parent_unit,
                    },
                )
            )
    for row in rows:
        parent = row.parent_unit
        if parent and parent not in in_file and parent not in existing:
            plan.problems.append(
                ImportProblem(
                    row=row.row,
                    column="parent_unit",
                    value=parent,
                    message=_(
                        "Unknown parent unit: it is not a unit in this file nor in the "
                        "organisation."
                    ),
                )
            )
    if len(plan.problems) > before:
        return

    # The tree after the import: existing parents, overridden by what the file states.
    final_parent = dict(existing_parent)
    for name in in_file:
        final_parent.setdefault(name, "")
    for name, (parent, _row) in stated.items():
        final_parent[name] = parent
    for name, (parent, row_number) in stated.items():
        seen = {name}
        current = parent
        while current:
            if current in seen:
                plan.problems.append(
                    ImportProblem(
                        row=row_number,
                        column="parent_unit",
                        value=parent,
                        message=_(
                            "This parent would put unit “%(unit)s” below itself "
                            "(a loop in the unit tree)."
                        )
                        % {"unit": name},
                    )
                )
                break
            seen.add(current)
            current = final_parent.get(current, "")
    if len(plan.problems) > before:
        return

    # New units in an order where each parent comes before its children.
    pending = sorted(n for n in in_file if n not in existing)
    placed: set[str] = set(existing)
    while pending:
        ready = [n for n in pending if not final_parent[n] or final_parent[n] in placed]
        for name in ready:
            plan.new_units.append(PlannedUnit(name=name, parent=final_parent[name]))
            placed.add(name)
        pending = [n for n in pending if n not in placed]
    for name, (parent, _row) in sorted(stated.items()):
        if name in existing and existing_parent[name] != parent:
            plan.moved_units.append(
                PlannedUnit(name=name, parent=parent, old_parent=existing_parent[name])
            )


def _check_main_sites(rows: list[SiteRow], existing: dict[str, Site], plan: ImportPlan) -> None:
    """At most one active main site after the import, counting sites not in the file."""
    in_file = {r.code.lower() for r in rows}
    others = [
        s.code
        for key, s in existing.items()
        if key not in in_file and s.kind == SiteKind.MAIN and s.active
    ]
    file_mains = [r for r in rows if r.kind == SiteKind.MAIN and r.active]
    codes = others + [r.code for r in file_mains]
    if not codes:
        plan.warnings.append(_("There will be no active main site."))
        return
    if len(codes) == 1 or settings.ALLOW_MULTIPLE_MAIN_SITES:
        return
    for row in file_mains:
        plan.problems.append(
            ImportProblem(
                row=row.row,
                column="kind",
                value=row.kind,
                message=_(
                    "Only one active main site is allowed; after this import there would be "
                    "%(count)d: %(codes)s."
                )
                % {"count": len(codes), "codes": ", ".join(codes)},
            )
        )


def _site_changes(row: SiteRow, site: Site, unit_names: dict[int, str]) -> list[FieldChange]:
    changes: list[FieldChange] = []
    for name in SITE_FIELDS:
        if name in OPTIONAL_COLUMNS and name not in row.columns:
            continue
        if name == "unit":
            old: Any = unit_names.get(site.unit_id, "")
        else:
            old = getattr(site, name)
        new = row.value(name)
        if isinstance(old, Decimal):
            old = old.quantize(COORDINATE_PLACES)
        if old != new:
            changes.append(FieldChange(field=name, old=old, new=new))
    return changes


def _plan_sites(rows: list[SiteRow], sites: dict[str, Site], plan: ImportPlan) -> None:
    unit_names = dict(Unit.objects.values_list("pk", "name"))
    for row in rows:
        site = sites.get(row.code.lower())
        if site is None:
            plan.sites.append(
                PlannedSite(row=row.row, code=row.code, name=row.name, action=Action.CREATE)
            )
            continue
        changes = _site_changes(row, site, unit_names)
        plan.sites.append(
            PlannedSite(
                row=row.row,
                code=site.code,
                name=row.name,
                action=Action.UPDATE if changes else Action.UNCHANGED,
                changes=tuple(changes),
            )
        )
    plan.rows = rows


def _problem_order(problem: ImportProblem) -> tuple[int, int]:
    column = KNOWN_COLUMNS.index(problem.column) if problem.column in KNOWN_COLUMNS else 99
    return (problem.row or 0, column)


def build_plan(data: bytes, filename: str) -> ImportPlan:
    """Read and check the whole file; return the plan (with `problems` if it must not run).

    Reads units and sites from the database but never writes.
    """
    plan = ImportPlan(filename=filename)
    try:
        table = read_table(data, filename)
    except FileRejected as exc:
        plan.problems.append(exc.problem)
        return plan
    for name in table.ignored_columns:
        plan.warnings.append(
            _("Column “%(column)s” is not used and was ignored.") % {"column": name}
        )
    _check_duplicate_codes(table, plan.problems)
    rows = check_rows(table, plan.problems)
    units = {u.name: u for u in Unit.objects.select_related("parent")}
    sites = {s.code.lower(): s for s in Site.objects.all()}
    _plan_units(rows, plan, units)
    _check_main_sites(rows, sites, plan)
    if plan.problems:
        plan.problems.sort(key=_problem_order)
        plan.new_units.clear()
        plan.moved_units.clear()
        return plan
    _plan_sites(rows, sites, plan)
    return plan
