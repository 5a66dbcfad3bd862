"""WebSocket routes: one control connection per page."""

from __future__ import annotations

from django.urls import re_path

from diemcau.live.consumers import MeetingConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/meetings/(?P<meeting_id>\d+)/(?P<role>site|hq|delegate)/$", MeetingConsumer.as_asgi()
    ),
]
