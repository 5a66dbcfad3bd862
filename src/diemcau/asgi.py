"""ASGI entry point: HTTP through Django, WebSockets through Channels (issue: live meeting)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diemcau.settings")

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

django_asgi = get_asgi_application()

from diemcau.live.routing import websocket_urlpatterns  # noqa: E402
from diemcau.sfu.routing import janus_urlpatterns  # noqa: E402
from diemcau.uploadsafety import BodyLimit  # noqa: E402

# Static files (our CSS/JS and Debian's janus.js) are served by the app itself, behind the
# HTTPS front (Caddy) that `serve` runs — in the embedded default and in the production
# install alike (docs/deploy.md). BodyLimit: Django reads a whole body to disk before any
# view runs, so an upload is cut at its page's limit before that (uploadsafety.py).
# Browsers reach Janus's WebSocket API through the app too (sfu/gate.py), on the same origin.
application = ProtocolTypeRouter(
    {
        "http": BodyLimit(ASGIStaticFilesHandler(django_asgi)),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, *janus_urlpatterns]))
        ),
    }
)
