from django.urls import path

app_name = "live"
urlpatterns: list = []
