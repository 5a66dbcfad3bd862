from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog

from diemcau import views

admin.site.site_header = _("Điểm Cầu administration")
admin.site.site_title = _("Điểm Cầu")
admin.site.index_title = _("Administration")

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("diemcau.accounts.urls")),
    path("ca/", include("diemcau.front.urls")),
    path("orgs/", include("diemcau.orgs.urls")),
    path("meetings/", include("diemcau.meetings.urls")),
    path("meetings/", include("diemcau.directives.urls")),
    path("", include("diemcau.live.urls")),
    path("reports/", include("diemcau.reports.urls")),
    path("minutes/", include("diemcau.minutes.urls")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
