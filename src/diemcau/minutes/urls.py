from django.urls import path

from diemcau.minutes import views

app_name = "minutes"
urlpatterns = [
    path("<int:meeting_id>/", views.minutes_edit, name="edit"),
    path("<int:meeting_id>/do/<str:action>/", views.minutes_action, name="action"),
    path("<int:meeting_id>/v<int:version>.<str:fmt>", views.minutes_download, name="download"),
]
