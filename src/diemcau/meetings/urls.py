from django.urls import path

from diemcau.meetings import views

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
]
