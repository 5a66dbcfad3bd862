"""TURN for sites behind firewalls: coturn's config, supervision and ephemeral credentials.

Docs: docs/deploy.md ("TURN"). Only `live/media_policy.py` hands credentials out.
"""
