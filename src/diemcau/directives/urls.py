from django.urls import path

from diemcau.directives import views

# Mounted under /meetings/ (diemcau/urls.py): the addresses directives had, which sent
# reminders and printed notices carry, keep working.
app_name = "directives"
urlpatterns = [
    path("directives/", views.directive_list, name="directives"),
    path("directives/new/", views.directive_create, name="directive_create"),
    path("directives/<int:pk>/", views.directive_detail, name="directive"),
    path("directives/<int:pk>/file/", views.directive_file, name="directive_file"),
    path("directives/<int:pk>/ack/", views.directive_acknowledge, name="directive_ack"),
    path("directives/<int:pk>/remind/", views.directive_remind, name="directive_remind"),
    path(
        "<int:meeting_id>/room/directives/<int:pk>/ack/",
        views.directive_acknowledge_from_room,
        name="directive_ack_room",
    ),
    path(
        "<int:meeting_id>/room/directives/<int:pk>/file/",
        views.directive_file_from_room,
        name="directive_file_room",
    ),
]
