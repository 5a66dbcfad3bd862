from django.urls import path

from diemcau.meetings import directive_views, views

app_name = "meetings"
urlpatterns = [
    path("", views.meeting_list, name="list"),
    path("new/", views.meeting_create, name="create"),
    path("<int:pk>/", views.meeting_detail, name="detail"),
    path("<int:pk>/edit/", views.meeting_edit, name="edit"),
    path("<int:pk>/sites/<str:site_code>/meeting.ics", views.invitation_ics_view, name="ics"),
    path("<int:pk>/sites/<str:site_code>/revoke/", views.invitation_revoke, name="revoke"),
    path("<int:pk>/documents/", views.document_upload, name="document_upload"),
    path("<int:pk>/documents/<int:doc_id>/", views.document_download, name="document"),
    path("directives/", directive_views.directive_list, name="directives"),
    path("directives/new/", directive_views.directive_create, name="directive_create"),
    path("directives/<int:pk>/", directive_views.directive_detail, name="directive"),
    path("directives/<int:pk>/file/", directive_views.directive_file, name="directive_file"),
    path("directives/<int:pk>/ack/", directive_views.directive_acknowledge, name="directive_ack"),
    path("directives/<int:pk>/remind/", directive_views.directive_remind, name="directive_remind"),
    path(
        "<int:meeting_id>/room/directives/<int:pk>/ack/",
        directive_views.directive_acknowledge_from_room,
        name="directive_ack_room",
    ),
    path(
        "<int:meeting_id>/room/directives/<int:pk>/file/",
        directive_views.directive_file_from_room,
        name="directive_file_room",
    ),
]
