from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from diemcau.reports.models import MeetingTravel, SiteTravel, TravelRates


@admin.register(TravelRates)
class TravelRatesAdmin(admin.ModelAdmin[TravelRates]):
    list_display = (
        "valid_from",
        "name",
        "road_price_per_km",
        "flight_price",
        "per_diem_per_day",
        "lodging_per_night",
    )
    date_hierarchy = "valid_from"
    fieldsets = (
        (None, {"fields": ("valid_from", "name", "note")}),
        (_("Road"), {"fields": ("road_factor", "road_price_per_km", "road_speed_kmh")}),
        (
            _("Flight"),
            {
                "fields": (
                    "flight_threshold_km",
                    "flight_pricing",
                    "flight_price",
                    "flight_speed_kmh",
                    "flight_overhead_hours",
                )
            },
        ),
        (_("From abroad"), {"fields": ("abroad_price_per_km", "abroad_border_hours")}),
        (
            _("Allowances (Circular 40/2017/TT-BTC)"),
            {
                "fields": (
                    "per_diem_per_day",
                    "lodging_per_night",
                    "local_radius_km",
                    "day_trip_max_hours",
                )
            },
        ),
        (_("Online meeting cost"), {"fields": ("online_cost_per_meeting", "online_cost_per_site")}),
    )


@admin.register(SiteTravel)
class SiteTravelAdmin(admin.ModelAdmin[SiteTravel]):
    list_display = ("site", "road_km", "mode", "note")
    list_select_related = ("site",)
    search_fields = ("site__code", "site__name")
    autocomplete_fields = ("site",)


@admin.register(MeetingTravel)
class MeetingTravelAdmin(admin.ModelAdmin[MeetingTravel]):
    list_display = ("meeting", "venue", "online_cost")
    list_select_related = ("meeting", "venue")
    search_fields = ("meeting__title",)
    raw_id_fields = ("meeting",)
    autocomplete_fields = ("venue",)
