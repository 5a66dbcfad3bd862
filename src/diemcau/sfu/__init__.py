"""Janus in one home: the only code of the web app that talks to Janus.

Docs: docs/janus.md. Built on `diemcau.media` (the Janus client and VideoRoom API, which
knows nothing of Django):

* `link.py` — one long-lived admin session per process, on a thread of its own;
* `rooms.py` — meetings' rooms, participants' access grants, SFU-side mutes and kicks;
* `feeds.py` — the feed-id scheme (whose publisher id is whose);
* `upkeep.py` — rooms restored after a Janus restart, enforcement in order per meeting,
  the periodic check `serve` runs.

Who may publish and whose audio passes is decided by the live meeting's policy
(live/media_policy.py); this package carries it out.
"""
