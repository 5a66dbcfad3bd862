from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LiveConfig(AppConfig):
    name = "diemcau.live"
    verbose_name = _("Live meeting")

    def ready(self) -> None:
        # Editing a live meeting announces what changed to the pages that follow it.
        from diemcau.live import revoke, signals
        from diemcau.live.services import meeting_edited
        from diemcau.meetings import hooks

        hooks.on_edit(meeting_edited)
        # A revoked link, a disabled account, a logout: what is still open is closed.
        hooks.on_revoke(revoke.link_revoked)
        signals.connect()
