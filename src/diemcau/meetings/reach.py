"""The channel-layer groups a revocation reaches (live/revoke.py closes them): every socket
of one site in a meeting, of one account, of one browser session. The control sockets
(live/consumers.py) and the Janus gate (sfu/gate.py) join them, so a revoked link, a
disabled account or a logout closes both a page's control socket and its Janus socket."""

from __future__ import annotations

import hashlib


def site_group(meeting_id: int, site_id: int) -> str:
    """A site's room pages and its delegates' phones in one meeting."""
    return f"live.site.{meeting_id}.{site_id}"


def user_group(user_id: int) -> str:
    """Every HQ console of one account, in any meeting."""
    return f"live.user.{user_id}"


def session_group(session_key: str) -> str:
    """Every socket opened from one browser session (a logout ends them all)."""
    return "live.session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]
