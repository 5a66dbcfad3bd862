"""`manage.py import_sites FILE [--dry-run]`: import sites from a CSV or XLSX file.

Prints the plan (what will be created or changed), or every problem with its row, column
and value and exits with status 1, having written nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from diemcau.orgs.importer import Action, ImportPlan
from diemcau.orgs.services import ImportRejected, apply_import, preview_import


class Command(BaseCommand):
    help = "Import sites (and their units) from a CSV or XLSX file; --dry-run only shows the plan."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="CSV (UTF-8) or XLSX file")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and print the plan only"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc

        if options["dry_run"]:
            plan = preview_import(data, path.name)
            self._print_plan(plan, int(options["verbosity"]))
            if not plan.ok:
                self._fail(plan)
            self.stdout.write("Dry run: nothing was written.")
            return

        try:
            result = apply_import(data, path.name)
        except ImportRejected as rejected:
            self._fail(rejected.plan)
        self._print_plan(result.plan, int(options["verbosity"]))
        self.stdout.write(self.style.SUCCESS(result.summary()))

    def _print_plan(self, plan: ImportPlan, verbosity: int) -> None:
        for warning in plan.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))
        if not plan.ok:
            return
        for unit in plan.new_units:
            if verbosity >= 2:
                self.stdout.write(
                    f"new unit: {unit.name}" + (f" (in {unit.parent})" if unit.parent else "")
                )
        for unit in plan.moved_units:
            self.stdout.write(f"unit moves: {unit.name}: {unit.old_parent or '—'} → {unit.parent}")
        for site in plan.sites:
            if site.action == Action.UPDATE:
                changes = "; ".join(
                    f"{c.field}: {c.old_display()} → {c.new_display()}" for c in site.changes
                )
                self.stdout.write(f"row {site.row}: update {site.code}: {changes}")
            elif verbosity >= 2:
                self.stdout.write(f"row {site.row}: {site.action} {site.code}")
        self.stdout.write(plan.summary())

    def _fail(self, plan: ImportPlan) -> NoReturn:
        for problem in plan.problems:
            self.stderr.write(str(problem))
        raise CommandError(
            f"{len(plan.problems)} problem(s) in {plan.filename}; nothing was imported."
        )
