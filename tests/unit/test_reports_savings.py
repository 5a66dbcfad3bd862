"""The savings arithmetic against hand-computed cases (docs/savings.md shows the sums)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from diemcau.reports.savings import (
    DEFAULT_RATES,
    FlightPricing,
    SiteTrip,
    TravelMode,
    great_circle_km,
    meeting_savings,
    trip_cost,
)

# Defaults: road 1.500 ₫/km one way at 50 km/h; flight above 500 road km at 2.500.000 ₫
# a leg, 700 km/h + 3 h a leg; abroad 3.000 ₫/km + 2 h border a leg; per-diem 200.000 ₫ a
# day; lodging 450.000 ₫ a night when the round trip exceeds 8 h; road factor 1,3.

NEARBY = SiteTrip("CSDN", "Cao su Đồng Nai", delegates=30, road_km=40)
FAR = SiteTrip("CSHN", "Cao su Hà Nội", delegates=10, great_circle_km=1137.0)
ABROAD = SiteTrip("CSVL", "Cao su Việt Lào", delegates=20, road_km=700, abroad=True)
NO_ANSWER = SiteTrip("CSDT", "Cao su Dầu Tiếng", delegates=25, estimated=True, road_km=80)


def test_nearby_site_pays_road_fare_and_one_day_allowance() -> None:
    line = trip_cost(NEARBY)
    # fare 2 × 40 km × 1.500 = 120.000; 1 day × 200.000; 1,6 h on the road, no night
    assert (line.mode, line.distance_km, line.distance_source) == (TravelMode.ROAD, 40, "entered")
    assert (line.fare, line.days, line.nights, line.per_diem, line.lodging) == (
        120_000,
        1,
        0,
        200_000,
        0,
    )
    assert line.per_delegate == 320_000
    assert line.total == 9_600_000
    assert line.hours_per_delegate == Decimal("1.60")
    assert line.hours == Decimal("48.00")


def test_far_site_flies_and_stays_one_night() -> None:
    line = trip_cost(FAR)
    # road 1.137 × 1,3 = 1.478 km > 500 ⇒ flight over the 1.137 km great circle;
    # 2 legs × 2.500.000 = 5.000.000; 2 × (1.137/700 + 3) = 9,25 h > 8 h ⇒ 1 night, 2 days
    assert (line.mode, line.distance_km) == (TravelMode.FLIGHT, 1137)
    assert (line.fare, line.days, line.nights) == (5_000_000, 2, 1)
    assert (line.per_diem, line.lodging) == (400_000, 450_000)
    assert line.per_delegate == 5_850_000
    assert line.total == 58_500_000
    assert line.hours_per_delegate == Decimal("9.25")
    assert line.hours == Decimal("92.50")


def test_flight_priced_per_km_when_configured() -> None:
    rates = replace(DEFAULT_RATES, flight_pricing=FlightPricing.PER_KM, flight_price=2_000)
    assert trip_cost(FAR, rates).fare == 2 * 1137 * 2_000


def test_abroad_site_uses_its_own_rate_and_always_a_night() -> None:
    line = trip_cost(ABROAD)
    # 2 × 700 × 3.000 = 4.200.000; 2 × (700/50 + 2) = 32 h ⇒ 1 night, 2 days
    assert line.mode == TravelMode.ABROAD
    assert (line.fare, line.days, line.nights) == (4_200_000, 2, 1)
    assert line.per_delegate == 4_200_000 + 400_000 + 450_000 == 5_050_000
    assert line.total == 101_000_000
    assert line.hours == Decimal("640.00")


def test_abroad_day_trip_still_books_a_night() -> None:
    line = trip_cost(replace(ABROAD, road_km=60))  # 2 × (1,2 + 2) = 6,4 h, across a border
    assert (line.nights, line.days) == (1, 2)


def test_site_without_roll_call_answer_counts_expected_delegates_marked_estimated() -> None:
    line = trip_cost(NO_ANSWER)
    # 2 × 80 × 1.500 = 240.000 + 200.000 = 440.000 × 25 expected delegates
    assert line.estimated
    assert line.total == 11_000_000
    assert line.hours == Decimal("80.00")


def test_site_within_local_radius_gets_no_per_diem() -> None:
    line = trip_cost(replace(NEARBY, road_km=10))
    assert (line.fare, line.per_diem, line.per_delegate) == (30_000, 0, 30_000)


def test_distance_from_coordinates_is_great_circle_times_road_factor() -> None:
    line = trip_cost(SiteTrip("X", "X", 1, great_circle_km=100.4))
    assert (line.distance_km, line.distance_source) == (131, "computed")  # 130,52 → 131


def test_entered_road_distance_wins_over_coordinates() -> None:
    line = trip_cost(SiteTrip("X", "X", 1, great_circle_km=100.0, road_km=95))
    assert line.distance_km == 95


def test_site_without_coordinates_or_road_distance_counts_nothing() -> None:
    line = trip_cost(SiteTrip("X", "X", 12))
    assert (line.mode, line.total, line.hours) == (None, 0, Decimal(0))


def test_mode_override_flies_a_short_distance() -> None:
    line = trip_cost(replace(NEARBY, mode=TravelMode.FLIGHT))
    assert line.mode == TravelMode.FLIGHT
    assert line.distance_km == 31  # 40 road km / 1,3
    assert line.fare == 5_000_000


def test_hanoi_to_ho_chi_minh_city_is_about_1140_km() -> None:
    assert great_circle_km(21.0285, 105.8542, 10.7769, 106.7009) == pytest.approx(1140, abs=10)


def test_meeting_totals_add_sites_and_subtract_online_cost() -> None:
    trips = [NEARBY, FAR, ABROAD, NO_ANSWER]
    result = meeting_savings(trips, online=3_000_000)
    travel = 9_600_000 + 58_500_000 + 101_000_000 + 11_000_000
    assert result.travel_cost == travel == 180_100_000
    assert result.net == travel - 3_000_000
    assert result.delegates == 85
    assert result.hours == Decimal("860.50")
    assert result.estimated_sites == 1


def test_online_cost_from_rates_is_per_meeting_plus_per_site() -> None:
    rates = replace(DEFAULT_RATES, online_cost_per_meeting=1_000_000, online_cost_per_site=50_000)
    assert meeting_savings([NEARBY, FAR], rates).online_cost == 1_100_000


def test_net_savings_never_go_below_zero() -> None:
    assert meeting_savings([NEARBY], online=50_000_000).net == 0
