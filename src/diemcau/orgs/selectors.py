"""Read-only queries for the organisation pages (the unit tree, site filters)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet, Sum

from diemcau.orgs.models import Site, Unit


@dataclass
class UnitNode:
    unit: Unit
    depth: int
    own_sites: int = 0
    own_delegates: int = 0
    children: list[UnitNode] = field(default_factory=list)

    @property
    def total_sites(self) -> int:
        return self.own_sites + sum(c.total_sites for c in self.children)

    @property
    def total_delegates(self) -> int:
        return self.own_delegates + sum(c.total_delegates for c in self.children)


def unit_tree() -> list[UnitNode]:
    """Every unit as a tree (two queries), with active-site counts per unit and below it."""
    units = list(
        Unit.objects.annotate(
            site_count=Count("sites", filter=Q(sites__active=True)),
            delegate_sum=Sum("sites__expected_delegates", filter=Q(sites__active=True)),
        ).order_by("name")
    )
    by_parent: dict[int | None, list[Unit]] = defaultdict(list)
    for unit in units:
        by_parent[unit.parent_id].append(unit)

    def build(unit: Unit, depth: int) -> UnitNode:
        node = UnitNode(
            unit=unit,
            depth=depth,
            own_sites=unit.site_count,  # type: ignore[attr-defined]
            own_delegates=unit.delegate_sum or 0,  # type: ignore[attr-defined]
        )
        node.children = [build(child, depth + 1) for child in by_parent.get(unit.pk, [])]
        return node

    return [build(root, 0) for root in by_parent.get(None, [])]


def flatten(nodes: list[UnitNode]) -> list[UnitNode]:
    """Depth-first order: each unit followed by the units below it."""
    result: list[UnitNode] = []
    for node in nodes:
        result.append(node)
        result.extend(flatten(node.children))
    return result


def filter_sites(
    *,
    unit: Unit | None = None,
    kind: str = "",
    province: str = "",
    country: str = "",
    active: bool | None = None,
    text: str = "",
) -> QuerySet[Site]:
    sites = Site.objects.select_related("unit")
    if unit is not None:
        sites = sites.filter(unit_id__in=unit.descendant_ids())
    if kind:
        sites = sites.filter(kind=kind)
    if province:
        sites = sites.filter(province=province)
    if country:
        sites = sites.filter(country=country)
    if active is not None:
        sites = sites.filter(active=active)
    for word in text.split():
        sites = sites.filter(
            Q(code__icontains=word)
            | Q(name__icontains=word)
            | Q(province__icontains=word)
            | Q(unit__name__icontains=word)
            | Q(contact_name__icontains=word)
        )
    return sites


def distinct_values(column: str) -> list[str]:
    values = Site.objects.exclude(**{column: ""}).values_list(column, flat=True).distinct()
    return sorted(set(values))
