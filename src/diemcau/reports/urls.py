from django.urls import path

from diemcau.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("savings.xlsx", views.dashboard_xlsx, name="dashboard_xlsx"),
    path("savings.pdf", views.dashboard_pdf, name="dashboard_pdf"),
    path("meetings/<int:pk>/", views.meeting_savings, name="meeting"),
    path("meetings/<int:pk>/savings.xlsx", views.meeting_savings_xlsx, name="meeting_xlsx"),
    path("meetings/<int:pk>/savings.pdf", views.meeting_savings_pdf, name="meeting_pdf"),
    path("attendance/", views.attendance, name="attendance"),
    path("attendance.xlsx", views.attendance_xlsx, name="attendance_xlsx"),
    path("attendance/sites/<str:code>/", views.site_attendance, name="site_attendance"),
]
