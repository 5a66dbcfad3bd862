"""The embedded Janus: its config from our settings, and keeping live meetings' rooms alive."""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

from django.conf import settings

from diemcau import config
from diemcau.media.janusconfig import JanusConfig

log = logging.getLogger(__name__)


def embedded_config() -> JanusConfig:
    janus = settings.JANUS
    port = urlsplit(janus.url).port or 8188
    rtp_min, _, rtp_max = os.environ.get("DIEMCAU_RTP_PORTS", "20000-40000").partition("-")
    return JanusConfig(
        folder=settings.DATA_DIR / "janus",
        ip=config.primary_ip(),
        ws_port=port,
        admin_secret=janus.admin_secret,
        token_auth_secret=janus.token_auth_secret,
        admin_key=janus.admin_key,
        rtp_port_min=int(rtp_min),
        rtp_port_max=int(rtp_max),
        ws_ip=urlsplit(janus.url).hostname or "127.0.0.1",
    )
