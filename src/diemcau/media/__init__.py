"""The Janus adapter: WebSocket client, VideoRoom calls, process supervision, config.

Docs: docs/janus.md. This package knows nothing of Django: services hand it plain values
and get plain values (dataclasses) back, so it can be tested against a real Janus alone.
"""
