"""ASGI entry point: HTTP through Django, WebSockets through Channels (issue: live meeting)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diemcau.settings")

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

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
