"""Ephemeral TURN credentials (coturn's `use-auth-secret`, the "TURN REST API").

The username is ``<expiry>:<participant>`` (expiry in Unix seconds), the password the
base64 HMAC-SHA1 of the username under the shared secret. coturn checks both on every
request of the allocation (refreshes included), so a credential stops working at its expiry
without coturn knowing anyone. They are handed out only inside ``media.access``
(live/media_policy.py), to a participant of a live meeting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from diemcau.config import TurnSettings

# After the scheduled end a meeting may overrun; a credential lasts at least this long from
# when it is handed out, so a page reconnecting late still gets a useful one.
GRACE_AFTER_END = timedelta(minutes=15)
MIN_LIFETIME = timedelta(hours=1)

_PARTICIPANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class TurnCredential:
    username: str
    password: str
    expires: int  # Unix seconds

    @property
    def participant(self) -> str:
        return self.username.partition(":")[2]


def password_for(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def issue(secret: str, participant: str, expires: int) -> TurnCredential:
    if not _PARTICIPANT.match(participant):
        raise ValueError(
            f"participant must be 1-64 letters, digits, '_', '.', '-' ({participant!r})"
        )
    username = f"{expires}:{participant}"
    return TurnCredential(username, password_for(secret, username), expires)


def expiry(now: datetime, meeting_end: datetime, turn: TurnSettings) -> int:
    """The meeting's scheduled end + 15 minutes; at least an hour from now while a meeting
    overruns; never more than `turn.max_ttl_seconds` (12 hours) from now."""
    wanted = max(meeting_end + GRACE_AFTER_END, now + MIN_LIFETIME)
    latest = now + timedelta(seconds=turn.max_ttl_seconds)
    return int(min(wanted, latest).timestamp())


def ice_servers(
    turn: TurnSettings, host: str, credential: TurnCredential
) -> list[dict[str, object]]:
    """What the page hands janus.js (RTCPeerConnection's `iceServers`).

    `host` is the name or address the page itself was opened at (one the certificate
    covers), so a browser that reached this server reaches its TURN the same way.
    """
    if not turn.enabled:
        return []
    if turn.mode == "external":
        host = turn.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    urls = [f"turn:{host}:{turn.port}?transport=udp", f"turn:{host}:{turn.port}?transport=tcp"]
    if turn.tls_port:
        urls.append(f"turns:{host}:{turn.tls_port}?transport=tcp")
    return [{"urls": urls, "username": credential.username, "credential": credential.password}]
