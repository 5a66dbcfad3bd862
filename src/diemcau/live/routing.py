"""WebSocket routes. The live meeting's consumers arrive with the live-meeting issue."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
