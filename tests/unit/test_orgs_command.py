"""`import_sites FILE [--dry-run]`: prints the plan, or every problem and exits non-zero."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

import diemcau.orgs
from diemcau.orgs.models import Site, Unit

SAMPLE = Path(diemcau.orgs.__file__).parent / "fixtures" / "sites-sample.csv"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    # Messages are checked in the English source text; Vietnamese comes later from a .po file.
    with translation.override("en"):
        yield


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_sites", *args, stdout=out, stderr=err, skip_checks=True)
    return out.getvalue(), err.getvalue()


def test_command_imports_the_sample_file(db: None) -> None:
    out, _err = run(str(SAMPLE))

    assert Site.objects.count() == 26
    assert "26 created" in out


def test_dry_run_prints_the_plan_and_writes_nothing(db: None) -> None:
    out, _err = run(str(SAMPLE), "--dry-run")

    assert "26 to create" in out
    assert (Site.objects.count(), Unit.objects.count()) == (0, 0)


def test_second_run_lists_changed_fields(db: None, tmp_path: Path) -> None:
    run(str(SAMPLE))
    changed = tmp_path / "changed.csv"
    changed.write_text(
        SAMPLE.read_text(encoding="utf-8").replace(
            "Bình Dương,VN,11.2790,106.3690,30", "Bình Dương,VN,11.2790,106.3690,35"
        ),
        encoding="utf-8",
    )

    out, _err = run(str(changed), "--dry-run")

    assert "row 4: update CSDT: expected_delegates: 30 → 35" in out
    assert "1 to update" in out


def test_problems_are_printed_with_row_column_and_value_and_exit_is_non_zero(
    db: None, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        SAMPLE.read_text(encoding="utf-8").replace(",branch,Đồng Nai,", ",bogus,Đồng Nai,"),
        encoding="utf-8",
    )
    err = StringIO()

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_sites", str(bad), stdout=StringIO(), stderr=err, skip_checks=True)

    assert "row 3, column “kind”, value “bogus”" in err.getvalue()
    assert Site.objects.count() == 0


def test_missing_file_is_a_clear_error(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "nope.csv"))
