from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MinutesConfig(AppConfig):
    name = "diemcau.minutes"
    verbose_name = _("Minutes")
