"""WebSocket route of the Janus gate (sfu/gate.py): browsers reach Janus at `/janus`."""

from __future__ import annotations

from django.urls import re_path

from diemcau.sfu.gate import JanusGate

janus_urlpatterns = [re_path(r"^janus/?$", JanusGate.as_asgi())]
