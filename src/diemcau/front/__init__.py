"""The HTTPS front: Caddy in front of the app and Janus, and the local CA's public page.

Docs: docs/deploy.md. `caddyconfig` renders the Caddyfile (pure), `supervisor` runs Caddy
like the embedded Janus, `certs` reads the local CA's root, and `views` serve `/ca/` and the
plain-HTTP explanation page. This is the one home of the web app's dealings with Caddy.
"""
