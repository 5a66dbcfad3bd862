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

# Static files (our CSS/JS and Debian's janus.js) are served by the app itself so that a
# LAN install needs no web server in front; a real deployment puts nginx there (deploy/).
application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
