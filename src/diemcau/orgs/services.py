"""Changes to units and sites. The only module in `orgs` that writes to the database.

A site import is two steps: `preview_import` (read and check, no writes) and
`apply_import`, which checks the file again inside the transaction — the database may
have changed since the preview — and then writes everything or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from diemcau.orgs.importer import Action, ImportPlan, ImportProblem, SiteRow, build_plan
from diemcau.orgs.models import Site, Unit


class ImportRejected(Exception):
    """The file has problems; nothing was written. `plan.problems` lists each one."""

    def __init__(self, plan: ImportPlan) -> None:
        super().__init__(f"{len(plan.problems)} problem(s) in {plan.filename}")
        self.plan = plan


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    units_created: int
    units_moved: int
    plan: ImportPlan

    def summary(self) -> str:
        return _(
            "Imported %(total)d sites: %(created)d created, %(updated)d updated, "
            "%(unchanged)d unchanged; %(units)d new units."
        ) % {
            "total": self.created + self.updated + self.unchanged,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "units": self.units_created,
        }


def preview_import(data: bytes, filename: str) -> ImportPlan:
    """What importing this file would do, or every problem in it. Writes nothing."""
    return build_plan(data, filename)


def apply_import(data: bytes, filename: str) -> ImportResult:
    """Import the file in one transaction. Raises `ImportRejected` (nothing written)."""
    try:
        with transaction.atomic():
            plan = build_plan(data, filename)
            if not plan.ok:
                raise ImportRejected(plan)
            return _write(plan)
    except IntegrityError as exc:
        # Another import or an admin edit got in between our check and our write.
        plan = ImportPlan(filename=filename)
        plan.problems.append(
            ImportProblem(
                message=_("The sites changed while importing; nothing was saved. Try again.")
            )
        )
        raise ImportRejected(plan) from exc


def import_sites_from_path(path: str | Path) -> ImportResult:
    """Import a CSV or XLSX file from disk (used by the command line and the demo data)."""
    file_path = Path(path)
    return apply_import(file_path.read_bytes(), file_path.name)


def _write(plan: ImportPlan) -> ImportResult:
    units = {u.name: u for u in Unit.objects.select_for_update()}
    for planned in plan.new_units:  # parents come first in `new_units`
        units[planned.name] = Unit.objects.create(
            name=planned.name, parent=units[planned.parent] if planned.parent else None
        )
    for planned in plan.moved_units:
        unit = units[planned.name]
        unit.parent = units[planned.parent] if planned.parent else None
        unit.save(update_fields=["parent"])

    rows = {r.row: r for r in plan.rows}
    sites = {s.code.lower(): s for s in Site.objects.select_for_update()}
    for planned_site in plan.sites:
        row = rows[planned_site.row]
        if planned_site.action == Action.CREATE:
            site = Site(code=row.code)
            _copy(row, site, units, row.columns)
            site.save()
        elif planned_site.action == Action.UPDATE:
            site = sites[row.code.lower()]
            changed = {c.field for c in planned_site.changes}
            _copy(row, site, units, changed)
            site.save(update_fields=[*sorted(changed), "updated_at"])
    return ImportResult(
        created=plan.to_create,
        updated=plan.to_update,
        unchanged=plan.unchanged,
        units_created=len(plan.new_units),
        units_moved=len(plan.moved_units),
        plan=plan,
    )


def _copy(
    row: SiteRow, site: Site, units: dict[str, Unit], only: set[str] | frozenset[str]
) -> None:
    site.unit = units[row.unit]
    site.name = row.name
    site.kind = row.kind
    site.province = row.province
    site.country = row.country
    site.latitude = row.latitude
    site.longitude = row.longitude
    site.expected_delegates = row.expected_delegates
    # Optional columns absent from the file keep the stored value (or the model default).
    for name in ("contact_name", "contact_phone", "contact_email", "active"):
        if name in only:
            setattr(site, name, getattr(row, name))
