"""The feed-id scheme: which Janus publisher id belongs to whom.

Ids are random (53 bits, so JavaScript holds them exactly) and issued by the server to each
connection with its media access: nobody can guess another site's id, take it before its
owner or keep it after a re-join, which gets fresh ids. The server keeps which id is whose
(live/models.py LiveState.feeds) and names a camera to the pages only once Janus has it and
the site's mute has been applied to it (live/media_policy.py).
"""

from __future__ import annotations

import secrets

CAMERA, SCREEN = "camera", "screen"
SLOTS = (CAMERA, SCREEN)

FEED_ID_MAX = 2**53 - 1


def new_feed_id() -> int:
    return secrets.randbelow(FEED_ID_MAX) + 1
