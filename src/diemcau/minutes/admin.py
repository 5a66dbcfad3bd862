from django.contrib import admin

from diemcau.minutes.models import Minutes


@admin.register(Minutes)
class MinutesAdmin(admin.ModelAdmin[Minutes]):
    list_display = ("meeting", "version", "finalised_at", "finalised_by")
    readonly_fields = ("record", "finalised_at", "finalised_by")
