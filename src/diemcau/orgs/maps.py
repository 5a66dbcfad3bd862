"""A schematic map of sites: an inline SVG, drawn on the server, with no tiles.

The server is often offline (a LAN install), so there is no basemap: just a graticule
(lines every few degrees, labelled) and one dot per site, placed with an equirectangular
projection. Longitude is scaled by cos(centre latitude) so Viet Nam keeps its shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from diemcau.orgs.models import Site, SiteKind

SIZE = 800.0  # the longer side of the drawing area, in SVG units (labels are ~13)
MARGIN = 36.0  # room for the degree labels
# Dot colours by kind; the legend in the template uses the same values.
KIND_COLOURS: dict[str, str] = {SiteKind.MAIN: "#b3261e", SiteKind.BRANCH: "#0b4f8a"}


@dataclass(frozen=True)
class MapPoint:
    x: str
    y: str
    code: str
    kind: str
    colour: str
    active: bool
    title: str
    url: str


@dataclass(frozen=True)
class GridLine:
    x1: str
    y1: str
    x2: str
    y2: str
    label: str
    label_x: str
    label_y: str
    vertical: bool


@dataclass(frozen=True)
class SiteMap:
    width: str
    height: str
    points: list[MapPoint]
    lines: list[GridLine]
    without_coordinates: int
    legend: list[tuple[str, str]]  # (kind label, colour)


def _fmt(value: float) -> str:
    # Plain text with a dot: the template must not localise SVG coordinates to "10,5".
    return f"{value:.1f}"


def _step(span: float) -> int:
    for step in (1, 2, 5, 10, 15, 30):
        if span / step <= 8:
            return step
    return 45


def coordinates_label(site: Site) -> str:
    """10,779°N · 106,688°E in Vietnamese (decimal comma), without trailing zeros."""
    if site.latitude is None or site.longitude is None:
        return "—"
    lat, lon = site.latitude.normalize(), site.longitude.normalize()
    return "{}°{} · {}°{}".format(
        formats.localize(abs(lat), use_l10n=True),
        "N" if lat >= 0 else "S",
        formats.localize(abs(lon), use_l10n=True),
        "E" if lon >= 0 else "W",
    )


def degree_label(value: int, positive: str, negative: str) -> str:
    if value == 0:
        return "0°"
    return f"{abs(value)}°{positive if value > 0 else negative}"


def build_map(sites: Iterable[Site], size: float = SIZE) -> SiteMap | None:
    """The map of the sites that have coordinates, or None if none has."""
    located: list[tuple[Site, float, float]] = []
    missing = 0
    for site in sites:
        if site.latitude is None or site.longitude is None:
            missing += 1
        else:
            located.append((site, float(site.latitude), float(site.longitude)))
    if not located:
        return None

    lats = [lat for _s, lat, _lon in located]
    lons = [lon for _s, _lat, lon in located]
    step = _step(max(max(lats) - min(lats), max(lons) - min(lons), 1.0))
    # Grid-aligned bounds with at least half a step around the outermost sites.
    south = max(-90, math.floor((min(lats) - step / 2) / step) * step)
    north = min(90, math.ceil((max(lats) + step / 2) / step) * step)
    west = max(-180, math.floor((min(lons) - step / 2) / step) * step)
    east = min(180, math.ceil((max(lons) + step / 2) / step) * step)
    stretch = max(math.cos(math.radians((north + south) / 2)), 0.2)
    scale = size / max((east - west) * stretch, north - south)
    inner_w = (east - west) * stretch * scale
    inner_h = (north - south) * scale

    def project(lat: float, lon: float) -> tuple[float, float]:
        return MARGIN + (lon - west) * stretch * scale, MARGIN + (north - lat) * scale

    lines: list[GridLine] = []
    for lat in range(int(south), int(north) + 1, step):
        _x, y = project(lat, west)
        lines.append(
            GridLine(
                x1=_fmt(MARGIN),
                y1=_fmt(y),
                x2=_fmt(MARGIN + inner_w),
                y2=_fmt(y),
                label=degree_label(lat, "N", "S"),
                label_x=_fmt(MARGIN - 4),
                label_y=_fmt(y + 4),
                vertical=False,
            )
        )
    for lon in range(int(west), int(east) + 1, step):
        x, _y = project(north, lon)
        lines.append(
            GridLine(
                x1=_fmt(x),
                y1=_fmt(MARGIN),
                x2=_fmt(x),
                y2=_fmt(MARGIN + inner_h),
                label=degree_label(lon, "E", "W"),
                label_x=_fmt(x),
                label_y=_fmt(MARGIN + inner_h + 16),
                vertical=True,
            )
        )

    points: list[MapPoint] = []
    for site, site_lat, site_lon in located:
        x, y = project(site_lat, site_lon)
        place = ", ".join(p for p in (site.province, site.country) if p)
        delegates = ngettext(
            "%(count)s expected delegate", "%(count)s expected delegates", site.expected_delegates
        ) % {"count": formats.localize(site.expected_delegates)}
        title = f"{site.code} – {site.name}\n{place} · {delegates}"
        if not site.active:
            title += f" · {_('inactive')}"
        points.append(
            MapPoint(
                x=_fmt(x),
                y=_fmt(y),
                code=site.code,
                kind=site.kind,
                colour=KIND_COLOURS.get(site.kind, "#5f6368"),
                active=site.active,
                title=title,
                url=reverse("orgs:site_detail", args=[site.code]),
            )
        )
    # Draw the main site last so its dot is on top of any neighbour.
    points.sort(key=lambda p: p.kind == SiteKind.MAIN)
    return SiteMap(
        width=_fmt(inner_w + 2 * MARGIN),
        height=_fmt(inner_h + 2 * MARGIN),
        points=points,
        lines=lines,
        without_coordinates=missing,
        legend=[(str(label), KIND_COLOURS[value]) for value, label in SiteKind.choices],
    )
