"""The feed-id scheme: which Janus publisher id belongs to which site.

Ids are derived from the site (site id * 10 + slot), so the server knows whose stream is
whose; the control plane's state names them and pages publish under them. A page could
join under another site's id (Janus's room tokens do not bind an id), which is why the
server kicks a publisher whose site is not connected (live/media_policy.py).
"""

from __future__ import annotations

CAMERA, SCREEN = 1, 2
SLOTS = (CAMERA, SCREEN)


def feed_id(site_id: int, slot: int = CAMERA) -> int:
    return site_id * 10 + slot
