"""The Content-Security-Policy of every page (Django's SECURE_CSP; docs/deploy.md).

Docs: https://docs.djangoproject.com/en/6.0/ref/csp/. A page runs only scripts from this
server — no inline script, no inline event handler (``onclick=…``), no ``eval`` — and talks
only to this server: the app itself (the control WebSocket, ``fetch``), Janus's WebSocket
(through the front at ``/janus``, or where ``DIEMCAU_JANUS_PUBLIC_URL`` or an external Janus
says: with ``DIEMCAU_FRONT=none`` another port of the same host), and the front's HTTPS
origins, which the plain-HTTP ``/ca/`` pages ask whether the browser trusts the certificate.

Styles come from our style sheets; ``style=""`` attributes stay allowed (``style-src-attr``):
templates and the live pages' scripts use them for layout, and they cannot run code.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.utils.csp import CSP

from diemcau.config import FrontSettings


def policy(front: FrontSettings, janus_url: str) -> dict[str, list[str]]:
    """SECURE_CSP for this front and Janus's public URL (`JanusSettings.public_url`)."""
    connect: list[str] = [CSP.SELF]
    if front.mode != "none":
        # 'self' covers the page's own origin; these name the others a page may reach (the
        # secure one from a plain-HTTP page, wss: for browsers whose 'self' omits it).
        for name in front.names:
            if ":" in name:
                continue  # an IPv6 literal: CSP sources cannot name one ('self' still works)
            https = front.origin(name)
            connect += [https, "wss" + https.removeprefix("https")]
    janus = _origin(janus_url)
    if janus and janus not in connect:
        connect.append(janus)
    return {
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF],
        "style-src": [CSP.SELF],
        "style-src-attr": [CSP.UNSAFE_INLINE],
        "img-src": [CSP.SELF],
        "connect-src": connect,
        "object-src": [CSP.NONE],
        "base-uri": [CSP.SELF],
        "form-action": [CSP.SELF],
        "frame-ancestors": [CSP.NONE],
    }


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, "" for a path on the page's own origin."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return ""
    host = parts.netloc.rpartition("@")[2]  # never a user name or password
    return f"{parts.scheme.lower()}://{host}"
