"""The front's public pages: the local CA (`/ca/`) and the plain-HTTP explanation page.

Docs: docs/deploy.md ("The HTTPS front"). Caddy serves `/ca/*` over plain HTTP as is, so a
PC that does not trust the local CA yet can open these pages without a certificate warning,
and rewrites every other plain-HTTP request to `/ca/continue/` (with the address it asked
for in `X-Diemcau-Original-Uri`). No login, no database, no cookies: the pages work for
anyone who can reach the server.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.http.request import split_domain_port
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from diemcau.front import certs
from diemcau.front.caddyconfig import ORIGINAL_URI_HEADER

CERT_FILENAME = "diemcau-ca"
MAX_URI_LENGTH = 2000
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What may stay as it is in a path and query; everything else is percent-encoded.
_URI_SAFE = "/?#[]@!$&'()*+,;=:%~"


@require_safe
@never_cache
def ca(request: HttpRequest) -> HttpResponse:
    """The local CA's root: what it is, download, fingerprint, how to install it."""
    front = settings.FRONT
    name = _name(request)
    root = _root()
    http_origin = front.http_origin(name)
    return render(
        request,
        "front/ca.html",
        {
            "mode": front.mode,
            "local_ca": _uses_local_ca(root),
            "root": root,
            "https_origin": front.origin(name),
            "check_url": front.origin(name) + reverse("front:trust_check"),
            "commands": _commands(http_origin, root) if root else None,
        },
    )


@require_safe
@never_cache
def ca_cert(request: HttpRequest) -> HttpResponse:
    """The root as PEM (`diemcau-ca.crt`): for browsers, macOS, Ubuntu and Android."""
    root = _root()
    if root is None:
        return _no_certificate()
    return _download(root.pem, f"{CERT_FILENAME}.crt")


@require_safe
@never_cache
def ca_cert_der(request: HttpRequest) -> HttpResponse:
    """The root as DER (`diemcau-ca.cer`): its SHA-256 is the fingerprint, byte for byte, so
    `Get-FileHash` checks it before `Import-Certificate` installs it."""
    root = _root()
    if root is None:
        return _no_certificate()
    return _download(root.der, f"{CERT_FILENAME}.cer")


@require_safe
@never_cache
def trust_check(request: HttpRequest) -> HttpResponse:
    """Fetched over HTTPS by trust.js: it loads only if the browser trusts the certificate."""
    response = HttpResponse(status=204)
    del response["Content-Type"]  # no body
    return response


# A form posted to a plain-http address is rewritten here too; the page changes nothing, so
# it answers POST without a CSRF token (which the browser could not have over plain HTTP).
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@never_cache
def continue_to_https(request: HttpRequest) -> HttpResponse:
    """A browser opened a plain-http address: send it to the same address over HTTPS.

    The original address may carry a join token: it is echoed only inside the https link,
    never read, and the page is neither cached nor sent on as a referrer.
    """
    front = settings.FRONT
    name = _name(request)
    uri = safe_path(request.headers.get(ORIGINAL_URI_HEADER, "/"))
    root = _root()
    response = render(
        request,
        "front/continue.html",
        {
            "target": front.origin(name) + uri,
            "https_origin": front.origin(name),
            "local_ca": _uses_local_ca(root),
            "root": root,
            "check_url": front.origin(name) + reverse("front:trust_check"),
        },
    )
    response["Referrer-Policy"] = "no-referrer"
    return response


def safe_path(uri: str) -> str:
    """`uri` if it is a path on this server ("/..."), percent-encoded; else "/".

    Never another host: "//host/x" and "/\\host/x" (which browsers read as "//host/x") and
    anything not starting with "/" ("http://host", "javascript:") fall back to "/".
    """
    uri = _CONTROL_CHARS.sub("", uri)
    if len(uri) > MAX_URI_LENGTH or not uri.startswith("/") or uri.startswith(("//", "/\\")):
        return "/"
    try:
        raw = uri.encode("latin-1")  # HTTP header bytes, as the server decoded them
    except UnicodeEncodeError:
        raw = uri.encode("utf-8")
    return quote(raw, safe=_URI_SAFE)


def _name(request: HttpRequest) -> str:
    """The server's name as this browser used it, when it is one of ours, else the address."""
    front = settings.FRONT
    host, _port = split_domain_port(request.get_host())
    host = host.removeprefix("[").removesuffix("]")
    return host if host in front.names else front.address


def _root() -> certs.RootCertificate | None:
    """The local CA's root, when this server uses one and Caddy has written it."""
    front = settings.FRONT
    if front.mode not in ("internal", "external"):
        return None
    # An external front may be a Caddy with its local CA in our data folder, or not.
    return certs.load_root(front.ca_root)


def _uses_local_ca(root: certs.RootCertificate | None) -> bool:
    return settings.FRONT.mode == "internal" or root is not None


def _no_certificate() -> HttpResponse:
    mode = settings.FRONT.mode
    if mode == "acme":
        text = _("This server uses a publicly trusted certificate: there is nothing to install.")
    elif mode == "internal":
        text = _(
            "The server has not started its HTTPS front yet: run “diemcau serve” on the "
            "server, then reload this page."
        )
    else:
        text = _(
            "This server uses the organisation's own certificate: if browsers warn about it, "
            "ask your IT department to install the organisation's certificate authority."
        )
    return HttpResponseNotFound(text + "\n", content_type="text/plain; charset=utf-8")


def _download(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="application/x-x509-ca-cert")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _commands(http_origin: str, root: certs.RootCertificate) -> dict[str, str]:
    """One-line installs for an IT officer: download, check the fingerprint, then install."""
    cer = http_origin + reverse("front:ca_cert_der")
    crt = http_origin + reverse("front:ca_cert")
    windows = (
        f'$f = "$env:TEMP\\{CERT_FILENAME}.cer"; '
        f'Invoke-WebRequest -UseBasicParsing -Uri "{cer}" -OutFile $f; '
        f'if ((Get-FileHash -Algorithm SHA256 -Path $f).Hash -eq "{root.sha256_hex}") '
        "{ Import-Certificate -FilePath $f -CertStoreLocation Cert:\\LocalMachine\\Root } "
        f'else {{ throw "{CERT_FILENAME}.cer: wrong fingerprint, not installed" }}'
    )
    ubuntu = (
        f'curl -fsS -o /tmp/{CERT_FILENAME}.crt "{crt}" && '
        f'if [ "$(openssl x509 -noout -fingerprint -sha256 -in /tmp/{CERT_FILENAME}.crt '
        f'| cut -d= -f2)" = "{root.sha256}" ]; '
        f"then sudo install -m 644 /tmp/{CERT_FILENAME}.crt /usr/local/share/ca-certificates/ "
        "&& sudo update-ca-certificates; "
        f'else echo "{CERT_FILENAME}.crt: wrong fingerprint, not installed" >&2; fi'
    )
    return {"windows": windows, "ubuntu": ubuntu}
