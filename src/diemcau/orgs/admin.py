from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from diemcau.orgs.models import Site, Unit


class SiteInline(admin.TabularInline[Site, Unit]):
    model = Site
    fields = ("code", "name", "kind", "province", "expected_delegates", "active")
    extra = 0
    show_change_link = True


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin[Unit]):
    list_display = ("name", "parent", "site_count")
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("name", "parent__name")
    autocomplete_fields = ("parent",)
    inlines = (SiteInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Unit]:
        return (
            super().get_queryset(request).select_related("parent").annotate(n_sites=Count("sites"))
        )

    @admin.display(description=_("sites"), ordering="n_sites")
    def site_count(self, unit: Unit) -> int:
        return unit.n_sites  # type: ignore[attr-defined]


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    list_display = (
        "code",
        "name",
        "unit",
        "kind",
        "province",
        "country",
        "expected_delegates",
        "active",
    )
    list_filter = (
        "kind",
        "active",
        "country",
        "province",
        ("unit", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("code", "name", "province", "unit__name", "contact_name", "contact_email")
    list_select_related = ("unit",)
    autocomplete_fields = ("unit",)
    readonly_fields = ("updated_at",)
    fieldsets = (
        (None, {"fields": ("code", "name", "unit", "kind", "active")}),
        (_("Place"), {"fields": ("province", "country", "latitude", "longitude")}),
        (_("Meeting room"), {"fields": ("expected_delegates",)}),
        (_("Contact"), {"fields": ("contact_name", "contact_phone", "contact_email")}),
        (None, {"fields": ("updated_at",)}),
    )
