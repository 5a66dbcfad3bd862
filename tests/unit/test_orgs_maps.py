"""The schematic site map: north up, east right, labelled graticule, no tiles."""

from __future__ import annotations

from decimal import Decimal

import pytest

from diemcau.orgs.maps import build_map, coordinates_label, degree_label
from diemcau.orgs.models import Site, SiteKind, Unit


@pytest.fixture
def unit(db: None) -> Unit:
    return Unit.objects.create(name="U")


def site(unit: Unit, code: str, lat: str | None, lon: str | None, **extra: object) -> Site:
    return Site.objects.create(
        code=code,
        name=code,
        unit=unit,
        latitude=Decimal(lat) if lat else None,
        longitude=Decimal(lon) if lon else None,
        **extra,
    )


def test_north_is_up_and_east_is_right(unit: Unit) -> None:
    hanoi = site(unit, "HN", "21.03", "105.85")
    hcm = site(unit, "HCM", "10.78", "106.69", kind=SiteKind.MAIN)

    site_map = build_map([hanoi, hcm])

    assert site_map is not None
    points = {p.code: p for p in site_map.points}
    assert float(points["HN"].y) < float(points["HCM"].y)
    assert float(points["HN"].x) < float(points["HCM"].x)
    assert site_map.points[-1].code == "HCM"  # the main site is drawn on top


def test_graticule_has_degree_labels_on_both_axes(unit: Unit) -> None:
    site_map = build_map([site(unit, "A", "10.5", "106.5"), site(unit, "B", "21", "103")])

    assert site_map is not None
    labels = {line.label for line in site_map.lines}
    assert {"10°N", "20°N", "104°E", "106°E"} <= labels


def test_sites_without_coordinates_are_counted_not_drawn(unit: Unit) -> None:
    site_map = build_map([site(unit, "A", "10", "106"), site(unit, "B", None, None)])

    assert site_map is not None
    assert [p.code for p in site_map.points] == ["A"]
    assert site_map.without_coordinates == 1
    assert build_map([Site(code="X", name="X", unit=unit)]) is None


def test_degree_labels_name_the_hemisphere() -> None:
    assert [degree_label(v, "E", "W") for v in (-75, 0, 106)] == ["75°W", "0°", "106°E"]


def test_coordinates_are_shown_without_trailing_zeros(unit: Unit) -> None:
    text = coordinates_label(site(unit, "A", "15.120000", "105.800000"))

    assert text in ("15,12°N · 105,8°E", "15.12°N · 105.8°E")
