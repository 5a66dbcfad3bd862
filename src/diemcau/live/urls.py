from django.urls import path

from diemcau.live import views

app_name = "live"
urlpatterns = [
    path("join/<int:meeting_id>/<str:site_code>/<str:token>/", views.join, name="join"),
    path("join/<int:meeting_id>/<str:site_code>/d/<str:token>/", views.delegate, name="delegate"),
    path("live/<int:pk>/console/", views.console, name="console"),
    # Delegates' voting codes: the printable sheets, and adding, withdrawing, replacing.
    path("live/<int:pk>/voting-codes/", views.voting_codes_all, name="voting_codes_all"),
    path("live/<int:pk>/voting-codes/<str:site_code>/", views.voting_codes, name="voting_codes"),
    path(
        "live/<int:pk>/voting-codes/<str:site_code>/add/",
        views.voting_codes_add,
        name="voting_codes_add",
    ),
    path(
        "live/<int:pk>/voting-codes/<str:site_code>/<int:number>/<str:action>/",
        views.voting_code_action,
        name="voting_code_action",
    ),
    # Start, end or cancel (on the meeting's page and the console).
    path("meetings/<int:pk>/do/<str:action>/", views.meeting_action, name="meeting_action"),
]
