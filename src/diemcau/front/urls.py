"""`/ca/`: public, and served by the front over plain HTTP too (docs/deploy.md)."""

from django.urls import path

from diemcau.front import views

app_name = "front"

urlpatterns = [
    path("", views.ca, name="ca"),
    path("diemcau-ca.crt", views.ca_cert, name="ca_cert"),
    path("diemcau-ca.cer", views.ca_cert_der, name="ca_cert_der"),
    path("trust-check/", views.trust_check, name="trust_check"),
    path("continue/", views.continue_to_https, name="continue"),
]
