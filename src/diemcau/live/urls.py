from django.urls import path

from diemcau.live import views

app_name = "live"
urlpatterns = [
    path("join/<int:meeting_id>/<str:site_code>/<str:token>/", views.join, name="join"),
    path("join/<int:meeting_id>/<str:site_code>/d/<str:token>/", views.delegate, name="delegate"),
    path("live/<int:pk>/console/", views.console, name="console"),
    # Start, end or cancel (on the meeting's page and the console).
    path("meetings/<int:pk>/do/<str:action>/", views.meeting_action, name="meeting_action"),
]
