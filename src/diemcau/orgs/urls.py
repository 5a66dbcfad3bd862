from django.urls import path

from diemcau.orgs import views

app_name = "orgs"
urlpatterns = [
    path("sites/", views.site_list, name="site_list"),
    path("sites/<str:code>/", views.site_detail, name="site_detail"),
    path("units/", views.unit_tree, name="unit_tree"),
    path("import/", views.import_upload, name="import_upload"),
    path("import/<str:token>/", views.import_preview, name="import_preview"),
    path("import/<str:token>/confirm/", views.import_confirm, name="import_confirm"),
]
