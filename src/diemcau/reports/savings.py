"""The travel-savings arithmetic: pure functions over plain values (no Django, no database).

Docs: docs/savings.md — every rule below is written out there with a worked example.

A present site's delegates would otherwise have travelled to the venue and back. For each
site we price one delegate's round trip (fare, per-diem allowance, lodging), multiply by
the delegates present, add the sites up and subtract what the online meeting cost. Money
is whole đồng (int); distances are whole kilometres; hours carry two decimals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)


class TravelMode(StrEnum):
    ROAD = "road"
    FLIGHT = "flight"
    ABROAD = "abroad"


class FlightPricing(StrEnum):
    PER_KM = "per_km"
    PER_TRIP = "per_trip"


@dataclass(frozen=True)
class Rates:
    """One dated set of rates. Defaults follow Circular 40/2017/TT-BTC (see docs/savings.md)."""

    valid_from: date | None = None  # None: the built-in defaults
    name: str = "Thông tư 40/2017/TT-BTC (mặc định)"
    road_factor: Decimal = Decimal("1.30")
    road_price_per_km: int = 1_500  # ₫ per delegate per km, one way (coach / car share)
    road_speed_kmh: int = 50
    flight_threshold_km: int = 500  # a road distance above this is flown
    flight_pricing: FlightPricing = FlightPricing.PER_TRIP
    flight_price: int = 2_500_000  # ₫ per delegate per one-way flight, or per km flown
    flight_speed_kmh: int = 700
    flight_overhead_hours: Decimal = Decimal("3")  # to/from airports, check-in, per leg
    abroad_price_per_km: int = 3_000  # ₫ per delegate per km, one way, from abroad
    abroad_border_hours: Decimal = Decimal("2")  # border crossing, per leg
    per_diem_per_day: int = 200_000  # Circular 40, art. 5: up to 200.000 ₫ a day
    lodging_per_night: int = 450_000  # Circular 40, art. 7: lump sum in Hà Nội / TP.HCM
    local_radius_km: int = 15  # closer than this: no per-diem (Circular 40, art. 5.3)
    day_trip_max_hours: Decimal = Decimal("8")  # round trip longer than this ⇒ one night
    online_cost_per_meeting: int = 0
    online_cost_per_site: int = 0


DEFAULT_RATES = Rates()


@dataclass(frozen=True)
class SiteTrip:
    """What the arithmetic needs to know about one present site."""

    site_code: str
    site_name: str
    delegates: int
    estimated: bool = False  # no roll-call answer: delegates are the site's expected number
    great_circle_km: float | None = None  # None: a coordinate is missing
    road_km: int | None = None  # entered road distance, wins over the great circle
    abroad: bool = False  # the site is in another country than the venue
    mode: TravelMode | None = None  # entered override


@dataclass(frozen=True)
class TripCost:
    """One site's line in the report."""

    site_code: str
    site_name: str
    delegates: int
    estimated: bool
    mode: TravelMode | None  # None: distance unknown, nothing counted
    distance_km: int  # the distance priced (road distance; flown distance for a flight)
    distance_source: str  # "entered", "computed", "unknown"
    fare: int  # per delegate, round trip
    days: int
    nights: int
    per_diem: int  # per delegate
    lodging: int  # per delegate
    per_delegate: int
    total: int
    hours_per_delegate: Decimal  # round trip travel time
    hours: Decimal  # delegate-hours avoided


@dataclass(frozen=True)
class MeetingSavings:
    lines: tuple[TripCost, ...]
    rates: Rates
    online_cost: int
    travel_cost: int = field(init=False)
    net: int = field(init=False)
    hours: Decimal = field(init=False)
    delegates: int = field(init=False)
    estimated_sites: int = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: derived totals are set once here
        set_(self, "travel_cost", sum(line.total for line in self.lines))
        set_(self, "net", max(self.travel_cost - self.online_cost, 0))
        set_(self, "hours", sum((line.hours for line in self.lines), Decimal(0)))
        set_(self, "delegates", sum(line.delegates for line in self.lines))
        set_(self, "estimated_sites", sum(1 for line in self.lines if line.estimated))


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance between two points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _whole(value: Decimal | float | int) -> int:
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _hours(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def road_distance_km(trip: SiteTrip, rates: Rates) -> tuple[int, str]:
    """The road distance: entered, else great circle × road factor; (0, "unknown") if neither."""
    if trip.road_km is not None:
        return trip.road_km, "entered"
    if trip.great_circle_km is None:
        return 0, "unknown"
    return _whole(Decimal(str(trip.great_circle_km)) * rates.road_factor), "computed"


def travel_mode(trip: SiteTrip, road_km: int, rates: Rates) -> TravelMode:
    if trip.mode is not None:
        return trip.mode
    if trip.abroad:
        return TravelMode.ABROAD
    if road_km > rates.flight_threshold_km:
        return TravelMode.FLIGHT
    return TravelMode.ROAD


def trip_cost(trip: SiteTrip, rates: Rates = DEFAULT_RATES) -> TripCost:
    """Price one site's delegates travelling to the venue and back."""
    road_km, source = road_distance_km(trip, rates)
    if source == "unknown" and trip.mode is None:
        return TripCost(
            trip.site_code,
            trip.site_name,
            trip.delegates,
            trip.estimated,
            None,
            0,
            source,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            Decimal(0),
            Decimal(0),
        )
    mode = travel_mode(trip, road_km, rates)
    distance = road_km
    if mode is TravelMode.FLIGHT:
        # A flight covers the great-circle distance; an entered road distance is a
        # ground figure, so it is shrunk back by the road factor.
        if trip.great_circle_km is not None:
            distance = _whole(trip.great_circle_km)
        else:
            distance = _whole(Decimal(road_km) / rates.road_factor)
        if rates.flight_pricing is FlightPricing.PER_TRIP:
            fare = 2 * rates.flight_price
        else:
            fare = 2 * distance * rates.flight_price
        one_way = Decimal(distance) / rates.flight_speed_kmh + rates.flight_overhead_hours
    elif mode is TravelMode.ABROAD:
        fare = 2 * road_km * rates.abroad_price_per_km
        one_way = Decimal(road_km) / rates.road_speed_kmh + rates.abroad_border_hours
    else:
        fare = 2 * road_km * rates.road_price_per_km
        one_way = Decimal(road_km) / rates.road_speed_kmh
    round_trip = _hours(2 * one_way)
    # Abroad: a border crossing is never a day trip.
    nights = 1 if round_trip > rates.day_trip_max_hours or mode is TravelMode.ABROAD else 0
    days = 1 + nights
    local = mode is TravelMode.ROAD and road_km < rates.local_radius_km
    per_diem = 0 if local else days * rates.per_diem_per_day
    lodging = nights * rates.lodging_per_night
    per_delegate = fare + per_diem + lodging
    return TripCost(
        site_code=trip.site_code,
        site_name=trip.site_name,
        delegates=trip.delegates,
        estimated=trip.estimated,
        mode=mode,
        distance_km=distance,
        distance_source=source,
        fare=fare,
        days=days,
        nights=nights,
        per_diem=per_diem,
        lodging=lodging,
        per_delegate=per_delegate,
        total=per_delegate * trip.delegates,
        hours_per_delegate=round_trip,
        hours=round_trip * trip.delegates,
    )


def online_cost(rates: Rates, sites: int, per_meeting: int | None = None) -> int:
    """What the online meeting cost: an entered figure for the meeting, else the rates'."""
    if per_meeting is not None:
        return per_meeting
    return rates.online_cost_per_meeting + rates.online_cost_per_site * sites


def meeting_savings(
    trips: Iterable[SiteTrip], rates: Rates = DEFAULT_RATES, *, online: int | None = None
) -> MeetingSavings:
    """Savings of one meeting: each present site's trip, minus the online cost (never < 0)."""
    lines = tuple(trip_cost(trip, rates) for trip in trips)
    return MeetingSavings(
        lines=lines, rates=rates, online_cost=online_cost(rates, len(lines), online)
    )
