"""The ASGI scope of a control WebSocket opened by a page of ours, for the tests that drive
the real ASGI app directly (channels.testing cannot be imported: it needs daphne)."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def websocket_scope(path: str, cookie: str | None = None) -> dict[str, Any]:
    # The page's own origin: the HTTPS front's address (ALLOWED_HOSTS is no longer "*").
    headers = [(b"origin", settings.FRONT.origin().encode())]
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return {
        "type": "websocket",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "subprotocols": [],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
