"""Site import: every bad file is refused with row, column and value, and writes nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import translation
from openpyxl import Workbook

import diemcau.orgs
from diemcau.orgs.importer import Action, ImportProblem
from diemcau.orgs.models import Site, SiteKind, Unit
from diemcau.orgs.services import ImportRejected, apply_import, preview_import

SAMPLE = Path(diemcau.orgs.__file__).parent / "fixtures" / "sites-sample.csv"
HEADER = "code,name,unit,parent_unit,kind,province,country,latitude,longitude,expected_delegates"
HQ_ROW = "HQ,Điểm cầu chính,Công đoàn Cao su Việt Nam,,main,TP. Hồ Chí Minh,VN,10.7790,106.6880,40"
DN_ROW = (
    "CSDN,Cao su Đồng Nai,CĐ Đồng Nai,Công đoàn Cao su Việt Nam,branch,Đồng Nai,VN,10.9,107.2,30"
)


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    # Messages are checked in the English source text; Vietnamese comes later from a .po file.
    with translation.override("en"):
        yield


def csv_file(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def counts() -> tuple[int, int]:
    return Site.objects.count(), Unit.objects.count()


def rejected(data: bytes, filename: str = "sites.csv") -> list[ImportProblem]:
    """Import must fail and leave the database exactly as it was; returns the problems."""
    before = counts()
    with pytest.raises(ImportRejected) as info:
        apply_import(data, filename)
    assert counts() == before
    problems = info.value.plan.problems
    assert problems
    return problems


def only(problems: list[ImportProblem]) -> ImportProblem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


@pytest.fixture
def sample_imported(db: None) -> None:
    apply_import(SAMPLE.read_bytes(), SAMPLE.name)


# --- the happy paths -------------------------------------------------------------------


def test_sample_file_imports_26_sites_with_one_main_site(db: None) -> None:
    result = apply_import(SAMPLE.read_bytes(), SAMPLE.name)

    assert (result.created, result.updated, result.unchanged) == (26, 0, 0)
    assert Site.objects.count() == 26
    assert list(Site.objects.filter(kind=SiteKind.MAIN).values_list("code", flat=True)) == [
        "CDCSVN"
    ]
    csdn = Site.objects.get(code="CSDN")
    assert csdn.unit.parent is not None
    assert csdn.unit.parent.name == "Công đoàn Cao su Việt Nam"
    assert str(csdn.latitude) == "10.938000"
    assert Site.objects.get(code="CSVL").country == "LA"


def test_preview_writes_nothing(db: None) -> None:
    plan = preview_import(SAMPLE.read_bytes(), SAMPLE.name)

    assert plan.ok
    assert plan.to_create == 26
    assert counts() == (0, 0)


def test_reimport_of_the_same_file_changes_nothing(sample_imported: None) -> None:
    result = apply_import(SAMPLE.read_bytes(), SAMPLE.name)

    assert (result.created, result.updated, result.unchanged, result.units_created) == (
        0,
        0,
        26,
        0,
    )


def test_reimport_updates_sites_by_code_and_shows_old_and_new_values(
    sample_imported: None,
) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("CSDN,Cao su Đồng Nai,", "CSDN,Cao su Đồng Nai (mới),")
    text = text.replace("Champasak,LA,15.1200,105.8000,10", "Champasak,LA,15.1200,105.8000,12")
    text += "CSNEW,Cao su Mới,Công đoàn Cao su Mới,Công đoàn Cao su Việt Nam,branch,,VN,,,5\n"

    plan = preview_import(text.encode(), "sites.csv")
    updates = {s.code: s for s in plan.sites if s.action == Action.UPDATE}
    assert set(updates) == {"CSDN", "CSVL"}
    (change,) = updates["CSDN"].changes
    assert (change.field, change.old, change.new) == (
        "name",
        "Cao su Đồng Nai",
        "Cao su Đồng Nai (mới)",
    )
    (change,) = updates["CSVL"].changes
    assert (change.field, change.old, change.new) == ("expected_delegates", 10, 12)

    result = apply_import(text.encode(), "sites.csv")
    assert (result.created, result.updated, result.unchanged, result.units_created) == (
        1,
        2,
        24,
        1,
    )
    assert Site.objects.get(code="CSDN").name == "Cao su Đồng Nai (mới)"
    assert Site.objects.get(code="CSVL").expected_delegates == 12
    assert Site.objects.count() == 27


def test_reimport_without_optional_columns_keeps_contact_and_active(db: None) -> None:
    header = HEADER + ",contact_name,active"
    apply_import(csv_file(HQ_ROW + ",Chị Lan,yes", DN_ROW + ",Anh Nam,no", header=header), "a.csv")
    assert Site.objects.get(code="CSDN").active is False

    result = apply_import(csv_file(HQ_ROW, DN_ROW), "b.csv")

    assert result.unchanged == 2
    site = Site.objects.get(code="CSDN")
    assert (site.contact_name, site.active) == ("Anh Nam", False)


def test_parent_unit_already_in_the_database_is_accepted(sample_imported: None) -> None:
    data = csv_file("CSX,Cao su X,Công đoàn Cao su X,Công đoàn Cao su Việt Nam,branch,,VN,,,3")

    result = apply_import(data, "one.csv")

    assert result.created == 1
    assert Unit.objects.get(name="Công đoàn Cao su X").parent == Unit.objects.get(
        name="Công đoàn Cao su Việt Nam"
    )


def test_parent_listed_after_its_child_is_created_first(db: None) -> None:
    apply_import(csv_file(DN_ROW, HQ_ROW), "reversed.csv")

    assert Unit.objects.get(name="CĐ Đồng Nai").parent == Unit.objects.get(
        name="Công đoàn Cao su Việt Nam"
    )


def test_utf8_file_with_bom_is_read(db: None) -> None:
    result = apply_import(b"\xef\xbb\xbf" + csv_file(HQ_ROW, DN_ROW), "bom.csv")

    assert result.created == 2
    assert Site.objects.filter(code="HQ").exists()


def test_excel_semicolon_csv_with_decimal_commas_is_read(db: None) -> None:
    header = HEADER.replace(",", ";")
    rows = [
        "HQ;Điểm cầu chính;Công đoàn Cao su Việt Nam;;main;TP. Hồ Chí Minh;VN;10,7790;106,6880;40",
        "CSDN;Cao su Đồng Nai, Biên Hòa;CĐ Đồng Nai;Công đoàn Cao su Việt Nam;branch;;VN;"
        "10,9;107,2;30",
    ]
    data = b"\xef\xbb\xbf" + ("\r\n".join([header, *rows]) + "\r\n").encode()

    result = apply_import(data, "excel.csv")

    assert result.created == 2
    hq = Site.objects.get(code="HQ")
    assert (str(hq.latitude), str(hq.longitude)) == ("10.779000", "106.688000")
    assert Site.objects.get(code="CSDN").name == "Cao su Đồng Nai, Biên Hòa"


def xlsx_file(rows: list[list[object]], header: str = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(header.split(","))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_file_with_numeric_cells_is_imported(db: None) -> None:
    data = xlsx_file(
        [
            [
                "HQ",
                "Điểm cầu chính",
                "Công đoàn Cao su Việt Nam",
                None,
                "main",
                "HCM",
                "VN",
                10.779,
                106.688,
                40,
            ],
            [
                "CSVL",
                "Cao su Việt Lào",
                "CĐ Việt Lào",
                "Công đoàn Cao su Việt Nam",
                "branch",
                "Champasak",
                "LA",
                15.12,
                105.8,
                10.0,
            ],
            [None] * 10,  # blank rows in a sheet are skipped
        ]
    )

    result = apply_import(data, "sites.xlsx")

    assert result.created == 2
    site = Site.objects.get(code="CSVL")
    assert (str(site.latitude), site.expected_delegates, site.country) == ("15.120000", 10, "LA")


def test_xlsx_problems_name_the_spreadsheet_row(db: None) -> None:
    data = xlsx_file([["HQ", "HQ", "U", None, "main", "", "VN", 95, 106, 1]])

    problem = only(rejected(data, "sites.xlsx"))

    assert (problem.row, problem.column, problem.value) == (2, "latitude", "95")


# --- every bad case: reported with row, column and value; nothing written ----------------


def test_duplicate_code_is_reported_with_row_and_nothing_is_written(db: None) -> None:
    dup = DN_ROW.replace("Cao su Đồng Nai", "Another")
    problem = only(rejected(csv_file(HQ_ROW, DN_ROW, dup)))

    assert (problem.row, problem.column, problem.value) == (4, "code", "CSDN")
    assert "row 3" in problem.message


def test_duplicate_code_differing_only_in_case_is_reported(db: None) -> None:
    problem = only(rejected(csv_file(HQ_ROW, DN_ROW, DN_ROW.replace("CSDN", "csdn", 1))))

    assert (problem.row, problem.column) == (4, "code")


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("latitude", "abc", "Not a number"),
        ("latitude", "91", "between -90 and 90"),
        ("latitude", "NaN", "Not a number"),
        ("longitude", "-180.5", "between -180 and 180"),
        ("longitude", "10.5.3", "Not a number"),
    ],
)
def test_bad_coordinate_is_reported_with_row_column_and_value(
    db: None, column: str, value: str, fragment: str
) -> None:
    row = DN_ROW.replace("10.9,107.2", "{},{}")
    row = row.format(value, "107.2") if column == "latitude" else row.format("10.9", value)

    problem = only(rejected(csv_file(HQ_ROW, row)))

    assert (problem.row, problem.column, problem.value) == (3, column, value)
    assert fragment in problem.message
    assert f"row 3, column “{column}”, value “{value}”" in str(problem)


def test_latitude_without_longitude_is_reported(db: None) -> None:
    problem = only(rejected(csv_file(HQ_ROW, DN_ROW.replace("10.9,107.2", "10.9,"))))

    assert (problem.row, problem.column) == (3, "longitude")


def test_unknown_kind_is_reported(db: None) -> None:
    problem = only(rejected(csv_file(HQ_ROW, DN_ROW.replace(",branch,", ",satellite,"))))

    assert (problem.row, problem.column, problem.value) == (3, "kind", "satellite")
    assert "main" in problem.message and "branch" in problem.message


def test_kind_in_vietnamese_is_accepted(db: None) -> None:
    apply_import(
        csv_file(HQ_ROW.replace(",main,", ",Chính,"), DN_ROW.replace(",branch,", ",nhánh,")),
        "vi.csv",
    )

    assert Site.objects.get(code="HQ").kind == SiteKind.MAIN
    assert Site.objects.get(code="CSDN").kind == SiteKind.BRANCH


@pytest.mark.parametrize("column", ["code", "name", "unit", "kind"])
def test_missing_required_value_is_reported(db: None, column: str) -> None:
    cells = DN_ROW.split(",")
    cells[HEADER.split(",").index(column)] = ""

    problems = rejected(csv_file(HQ_ROW, ",".join(cells)))

    assert any(
        (p.row, p.column, p.value) == (3, column, "") and "required" in p.message for p in problems
    ), [str(p) for p in problems]


def test_unknown_parent_unit_is_reported(db: None) -> None:
    row = DN_ROW.replace("Công đoàn Cao su Việt Nam", "Công đoàn Không Có")

    problem = only(rejected(csv_file(HQ_ROW, row)))

    assert (problem.row, problem.column, problem.value) == (3, "parent_unit", "Công đoàn Không Có")
    assert "Unknown parent unit" in problem.message


def test_unit_given_two_different_parents_is_reported(db: None) -> None:
    other = "CSDT,Cao su Dầu Tiếng,CĐ Đồng Nai,Công đoàn Khác,branch,,VN,,,5"
    extra = "CSK,Khác,Công đoàn Khác,,branch,,VN,,,5"

    problem = only(rejected(csv_file(HQ_ROW, DN_ROW, extra, other)))

    assert (problem.row, problem.column, problem.value) == (5, "parent_unit", "Công đoàn Khác")
    assert "row 3" in problem.message


def test_loop_in_the_unit_tree_is_reported(db: None) -> None:
    rows = ["A1,A,Unit A,Unit B,branch,,VN,,,1", "B1,B,Unit B,Unit A,branch,,VN,,,1"]

    problems = rejected(csv_file(HQ_ROW, *rows))

    assert {p.column for p in problems} == {"parent_unit"}
    assert "loop" in problems[0].message


def test_unit_that_is_its_own_parent_is_reported(db: None) -> None:
    problem = only(rejected(csv_file(HQ_ROW, "A1,A,Unit A,Unit A,branch,,VN,,,1")))

    assert (problem.row, problem.column) == (3, "parent_unit")


@pytest.mark.parametrize(
    ("filename", "data", "fragment"),
    [
        ("sites.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        ("sites.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        ("sites.csv", b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        ("sites.docx", b"PK\x03\x04whatever", "“.docx” are not accepted"),
        ("sites.xlsx", csv_file(HQ_ROW), "not an Excel workbook"),
        ("sites.xlsx", b"PK\x03\x04broken zip", "damaged"),
        ("sites.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "not accepted"),
    ],
)
def test_wrong_file_type_is_refused_with_a_clear_message(
    db: None, filename: str, data: bytes, fragment: str
) -> None:
    problem = only(rejected(data, filename))

    assert problem.row is None
    assert fragment in problem.message


def test_word_document_renamed_csv_is_refused(db: None) -> None:
    out = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")

    problem = only(rejected(out.getvalue(), "sites.csv"))

    assert "Word document" in problem.message


def test_empty_file_is_refused(db: None) -> None:
    assert "empty" in only(rejected(b"", "sites.csv")).message
    assert "empty" in only(rejected(b"\xef\xbb\xbf\n\n", "sites.csv")).message


def test_header_only_file_is_refused(db: None) -> None:
    assert "no sites" in only(rejected(csv_file())).message


def test_missing_required_columns_are_named(db: None) -> None:
    header = "code,name,unit,kind,province,country"
    problem = only(rejected(csv_file("HQ,HQ,U,main,,VN", header=header)))

    assert problem.column == "parent_unit, latitude, longitude, expected_delegates"
    assert "parent_unit, latitude, longitude, expected_delegates" in problem.message


def test_non_utf8_file_is_refused_with_advice(db: None) -> None:
    data = csv_file(HQ_ROW).decode().encode("cp1258", errors="replace")

    problem = only(rejected(data))

    assert "UTF-8" in problem.message


def test_second_active_main_site_in_the_file_is_refused(db: None) -> None:
    problems = rejected(csv_file(HQ_ROW, DN_ROW.replace(",branch,", ",main,")))

    assert [(p.row, p.column) for p in problems] == [(2, "kind"), (3, "kind")]
    assert "HQ, CSDN" in problems[0].message


def test_main_site_conflicting_with_main_site_in_database_is_refused(
    sample_imported: None,
) -> None:
    problem = only(rejected(csv_file(HQ_ROW)))

    assert (problem.row, problem.column, problem.value) == (2, "kind", "main")
    assert "CDCSVN" in problem.message


def test_main_site_may_move_when_the_old_one_is_made_inactive_in_the_same_file(
    db: None,
) -> None:
    header = HEADER + ",active"
    apply_import(csv_file(HQ_ROW + ",yes", header=header), "a.csv")

    apply_import(
        csv_file(HQ_ROW + ",no", DN_ROW.replace(",branch,", ",main,") + ",yes", header=header),
        "b.csv",
    )

    assert list(Site.objects.filter(kind="main", active=True).values_list("code", flat=True)) == [
        "CSDN"
    ]


@override_settings(ALLOW_MULTIPLE_MAIN_SITES=True)
def test_several_main_sites_are_allowed_when_the_setting_says_so(db: None) -> None:
    result = apply_import(csv_file(HQ_ROW, DN_ROW.replace(",branch,", ",main,")), "two.csv")

    assert result.created == 2


@pytest.mark.parametrize(
    ("value", "fragment"), [("-3", "negative"), ("2.5", "whole number"), ("many", "whole number")]
)
def test_bad_expected_delegates_is_reported(db: None, value: str, fragment: str) -> None:
    problem = only(rejected(csv_file(HQ_ROW, DN_ROW.replace(",30", f",{value}"))))

    assert (problem.row, problem.column, problem.value) == (3, "expected_delegates", value)
    assert fragment in problem.message


@pytest.mark.parametrize("value", ["VNM", "Việt Nam", "XX"])
def test_bad_country_code_is_reported(db: None, value: str) -> None:
    problem = only(rejected(csv_file(HQ_ROW, DN_ROW.replace(",VN,", f",{value},"))))

    assert (problem.row, problem.column, problem.value) == (3, "country", value)


def test_bad_email_and_active_values_are_reported(db: None) -> None:
    header = HEADER + ",contact_email,active"

    problems = rejected(
        csv_file(HQ_ROW + ",a@b.vn,yes", DN_ROW + ",not-an-email,maybe", header=header)
    )

    assert [(p.row, p.column) for p in problems] == [(3, "contact_email"), (3, "active")]


def test_every_problem_in_the_file_is_reported_in_one_pass(db: None) -> None:
    rows = [
        HQ_ROW,
        "CS 1,Bad code,U1,,branch,,VN,,,1",
        "CS2,,U2,Nowhere,odd,,ZZ,200,,x",
    ]

    problems = rejected(csv_file(*rows))

    assert [(p.row, p.column) for p in problems] == [
        (3, "code"),
        (4, "name"),
        (4, "parent_unit"),
        (4, "kind"),
        (4, "country"),
        (4, "latitude"),
        (4, "longitude"),
        (4, "expected_delegates"),
    ]


def test_import_checks_again_when_the_database_changed_after_the_preview(db: None) -> None:
    data = csv_file(HQ_ROW, DN_ROW)
    assert preview_import(data, "sites.csv").ok
    unit = Unit.objects.create(name="Khác")
    Site.objects.create(code="OTHER", name="Other HQ", unit=unit, kind=SiteKind.MAIN)

    problems = rejected(data)

    assert "OTHER" in problems[0].message


# --- the rule outside the importer -------------------------------------------------------


@pytest.fixture
def two_units(db: None) -> Iterator[Unit]:
    yield Unit.objects.create(name="U")


def test_second_active_main_site_is_refused_when_saved_through_a_form(two_units: Unit) -> None:
    Site.objects.create(code="HQ", name="HQ", unit=two_units, kind=SiteKind.MAIN)
    second = Site(code="HQ2", name="HQ 2", unit=two_units, kind=SiteKind.MAIN)

    with pytest.raises(ValidationError) as info:
        second.full_clean()

    assert "kind" in info.value.message_dict
    second.active = False
    second.full_clean()  # an inactive second main room is fine
