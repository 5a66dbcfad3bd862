"""Report settings: dated travel rates, a site's travel facts, a meeting's venue and online cost.

Docs: docs/savings.md. The arithmetic itself is in `savings.py` (plain values only); these
tables only hold the numbers it is given, so every figure in a report can be traced to a
rate set with a start date.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from diemcau.meetings.models import Meeting
from diemcau.orgs.models import Site
from diemcau.reports import savings

_D = savings.DEFAULT_RATES


def _money(
    label: StrOrPromise, default: int, help_text: StrOrPromise = ""
) -> models.PositiveBigIntegerField[int, int]:
    return models.PositiveBigIntegerField(label, default=default, help_text=help_text)


class TravelRates(models.Model):
    """One set of rates, in force from `valid_from` until the next set starts."""

    valid_from = models.DateField(_("valid from"), unique=True)
    name = models.CharField(_("name"), max_length=200, default=_D.name)
    road_factor = models.DecimalField(
        _("road factor"),
        max_digits=4,
        decimal_places=2,
        default=_D.road_factor,
        validators=[MinValueValidator(Decimal(1))],
        help_text=_("Road distance = great-circle distance × this factor."),
    )
    road_price_per_km = _money(
        _("road fare per km (₫)"), _D.road_price_per_km, _("Per delegate, one way.")
    )
    road_speed_kmh = models.PositiveIntegerField(
        _("road speed (km/h)"), default=_D.road_speed_kmh, validators=[MinValueValidator(1)]
    )
    flight_threshold_km = models.PositiveIntegerField(
        _("fly above (road km)"), default=_D.flight_threshold_km
    )
    flight_pricing = models.CharField(
        _("flight priced"),
        max_length=10,
        choices=[
            (savings.FlightPricing.PER_TRIP.value, _("per one-way flight")),
            (savings.FlightPricing.PER_KM.value, _("per km flown")),
        ],
        default=_D.flight_pricing.value,
    )
    flight_price = _money(_("flight price (₫)"), _D.flight_price, _("Per delegate."))
    flight_speed_kmh = models.PositiveIntegerField(
        _("flight speed (km/h)"), default=_D.flight_speed_kmh, validators=[MinValueValidator(1)]
    )
    flight_overhead_hours = models.DecimalField(
        _("airport time per leg (h)"),
        max_digits=4,
        decimal_places=2,
        default=_D.flight_overhead_hours,
    )
    abroad_price_per_km = _money(
        _("fare per km from abroad (₫)"), _D.abroad_price_per_km, _("Per delegate, one way.")
    )
    abroad_border_hours = models.DecimalField(
        _("border crossing per leg (h)"),
        max_digits=4,
        decimal_places=2,
        default=_D.abroad_border_hours,
    )
    per_diem_per_day = _money(_("per-diem allowance per day (₫)"), _D.per_diem_per_day)
    lodging_per_night = _money(_("lodging per night (₫)"), _D.lodging_per_night)
    local_radius_km = models.PositiveIntegerField(
        _("no per-diem within (km)"), default=_D.local_radius_km
    )
    day_trip_max_hours = models.DecimalField(
        _("longest day trip (h, round trip)"),
        max_digits=4,
        decimal_places=2,
        default=_D.day_trip_max_hours,
        help_text=_("A longer round trip needs one night's lodging and a second day."),
    )
    online_cost_per_meeting = _money(_("online cost per meeting (₫)"), 0)
    online_cost_per_site = _money(_("online cost per site (₫)"), 0)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-valid_from"]
        verbose_name = _("travel rates")
        verbose_name_plural = _("travel rates")

    def __str__(self) -> str:
        return f"{self.name} ({self.valid_from:%d/%m/%Y})"

    def as_rates(self) -> savings.Rates:
        return savings.Rates(
            valid_from=self.valid_from,
            name=self.name,
            road_factor=Decimal(self.road_factor),
            road_price_per_km=self.road_price_per_km,
            road_speed_kmh=self.road_speed_kmh,
            flight_threshold_km=self.flight_threshold_km,
            flight_pricing=savings.FlightPricing(self.flight_pricing),
            flight_price=self.flight_price,
            flight_speed_kmh=self.flight_speed_kmh,
            flight_overhead_hours=Decimal(self.flight_overhead_hours),
            abroad_price_per_km=self.abroad_price_per_km,
            abroad_border_hours=Decimal(self.abroad_border_hours),
            per_diem_per_day=self.per_diem_per_day,
            lodging_per_night=self.lodging_per_night,
            local_radius_km=self.local_radius_km,
            day_trip_max_hours=Decimal(self.day_trip_max_hours),
            online_cost_per_meeting=self.online_cost_per_meeting,
            online_cost_per_site=self.online_cost_per_site,
        )

    @classmethod
    def in_force(cls, on: date) -> savings.Rates:
        """The set in force on a day; the built-in defaults before the first one."""
        row = cls.objects.filter(valid_from__lte=on).order_by("-valid_from").first()
        return row.as_rates() if row is not None else savings.DEFAULT_RATES


class SiteTravel(models.Model):
    """A site's travel facts, where the coordinates are not enough (kept beside `orgs`)."""

    site = models.OneToOneField(
        Site, verbose_name=_("site"), on_delete=models.CASCADE, related_name="travel"
    )
    road_km = models.PositiveIntegerField(
        _("road distance to HQ (km)"),
        null=True,
        blank=True,
        help_text=_("Used instead of the distance computed from coordinates."),
    )
    mode = models.CharField(
        _("travel mode"),
        max_length=10,
        blank=True,
        choices=[
            (savings.TravelMode.ROAD.value, _("road")),
            (savings.TravelMode.FLIGHT.value, _("flight")),
            (savings.TravelMode.ABROAD.value, _("from abroad")),
        ],
        help_text=_("Leave empty to decide by distance and country."),
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("site travel")
        verbose_name_plural = _("site travel")

    def __str__(self) -> str:
        return str(self.site)


class MeetingTravel(models.Model):
    """Per-meeting settings of its savings report: another venue, the online cost."""

    meeting = models.OneToOneField(
        Meeting, verbose_name=_("meeting"), on_delete=models.CASCADE, related_name="travel"
    )
    venue = models.ForeignKey(
        Site,
        verbose_name=_("venue"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Where delegates would have gathered; empty: the meeting's main site."),
    )
    online_cost = models.PositiveBigIntegerField(
        _("online cost (₫)"),
        null=True,
        blank=True,
        help_text=_("What this meeting cost online; empty: from the rates."),
    )

    class Meta:
        verbose_name = _("meeting travel settings")
        verbose_name_plural = _("meeting travel settings")

    def __str__(self) -> str:
        return str(self.meeting)
