"""Janus core signed tokens (``token_auth`` with ``token_auth_secret``).

Docs: docs/janus.md. Format, as ``janus_auth_check_signature`` in Janus 1.1.2 ``auth.c``
verifies it::

    <expiry unix time>,janus,<plugin>[,<plugin>...]:<base64(HMAC-SHA1(secret, data))>

where ``data`` is everything before the colon. The realm is always ``janus``; attaching a
handle also needs the plugin's package name in the list (else core error 405).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable

VIDEOROOM = "janus.plugin.videoroom"
REALM = "janus"
DEFAULT_TTL_SECONDS = 6 * 3600  # one meeting day; a browser reconnecting needs a fresh one


def sign_token(
    secret: str,
    plugins: Iterable[str] = (VIDEOROOM,),
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    *,
    now: float | None = None,
) -> str:
    """A token Janus accepts until ``now + ttl_seconds`` for the given plugins."""
    if not secret:
        raise ValueError("secret must not be empty")
    names = list(plugins)
    for name in names:
        # Janus splits the data part on "," and the token on ":", so either would corrupt it.
        if not name or "," in name or ":" in name:
            raise ValueError(f"plugin name must be non-empty without ',' or ':' (got {name!r})")
    expiry = int(now if now is not None else time.time()) + int(ttl_seconds)
    data = ",".join([str(expiry), REALM, *names])
    return f"{data}:{_signature(secret, data)}"


def verify_token(
    secret: str, token: str, plugin: str | None = None, *, now: float | None = None
) -> bool:
    """Check a token as Janus would; for tests and for diagnosing a refused browser."""
    data, sep, signature = token.partition(":")
    if not sep or ":" in signature:
        return False
    fields = data.split(",")
    if len(fields) < 2 or fields[1] != REALM:
        return False
    try:
        expiry = int(fields[0])
    except ValueError:
        return False
    if expiry < 0 or (now if now is not None else time.time()) > expiry:
        return False
    # Janus uses strstr on each listed plugin; we ask for an exact name, which is stricter.
    if plugin is not None and plugin not in fields[2:]:
        return False
    return hmac.compare_digest(signature, _signature(secret, data))


def _signature(secret: str, data: str) -> str:
    digest = hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
