"""What invitations say about the local CA: where to install it, and its fingerprint.

A site that opens its join link on a PC that does not trust the local CA first meets the
browser's own certificate warning, which we cannot replace; so the invitation page and the
.ics name the plain-HTTP `/ca/` address first.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from . import certs


@dataclass(frozen=True)
class CaNotice:
    url: str
    fingerprint: str


def ca_notice() -> CaNotice | None:
    """The local CA's address and fingerprint, or None when browsers need nothing."""
    front = settings.FRONT
    if front.mode != "internal":
        return None
    root = certs.load_root(front.ca_root)
    if root is None:
        return None
    return CaNotice(url=front.ca_url, fingerprint=root.sha256)
