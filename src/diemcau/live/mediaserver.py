"""The embedded Janus: its config from our settings, and keeping live meetings' rooms alive."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings

from diemcau import config
from diemcau.media.janusconfig import JanusConfig

log = logging.getLogger(__name__)


def embedded_config() -> JanusConfig:
    janus = settings.JANUS
    port = urlsplit(janus.url).port or 8188
    rtp = config.rtp_ports()
    return JanusConfig(
        folder=settings.DATA_DIR / "janus",
        ip=config.primary_ip(),
        ws_port=port,
        admin_secret=janus.admin_secret,
        token_auth_secret=janus.token_auth_secret,
        admin_key=janus.admin_key,
        rtp_port_min=rtp.min,
        rtp_port_max=rtp.max,
        ws_ip=urlsplit(janus.url).hostname or "127.0.0.1",
        public_ip=settings.TURN.public_ip,
    )
