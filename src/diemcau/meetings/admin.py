from django.contrib import admin

from diemcau.meetings.models import AgendaItem, Document, Invitation, Meeting


class InvitationInline(admin.TabularInline[Invitation, Meeting]):
    model = Invitation
    extra = 0
    autocomplete_fields = ("site",)
    readonly_fields = ("created_at",)


class AgendaInline(admin.TabularInline[AgendaItem, Meeting]):
    model = AgendaItem
    extra = 0


class DocumentInline(admin.TabularInline[Document, Meeting]):
    model = Document
    extra = 0
    readonly_fields = ("original_name", "size", "uploaded_by", "uploaded_at")


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin[Meeting]):
    list_display = ("title", "kind", "format", "start", "end", "main_site", "status")
    list_filter = ("status", "kind", "format")
    search_fields = ("title",)
    date_hierarchy = "start"
    # Status and the Janus room change only through the services (start, end, cancel).
    readonly_fields = ("status", "janus_room", "started_at", "ended_at", "created_by")
    inlines = (AgendaInline, InvitationInline, DocumentInline)
