"""`/ca/` and the plain-HTTP page (diemcau.front.views): public, and never off site."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from diemcau.config import FrontSettings
from diemcau.front import certs
from tests.unit.test_front_certs import make_root

NAMES = ("meet.example.vn", "10.0.0.5", "fd00::5", "localhost", "127.0.0.1")
TOKEN = "c2VjcmV0LXRva2VuLWZvci1hLXNpdGU"


@pytest.fixture
def front(settings: Any, tmp_path: Path) -> FrontSettings:
    """An internal-CA front for NAMES, its data in the test's folder (no root yet)."""
    settings.FRONT = dataclasses.replace(
        settings.FRONT,
        mode="internal",
        names=NAMES,
        https_port=443,
        http_port=80,
        folder=tmp_path / "caddy",
        domain="",
        tls_cert="",
        tls_key="",
    )
    settings.ALLOWED_HOSTS = [*NAMES, "[fd00::5]", "testserver", "other.example"]
    return settings.FRONT


@pytest.fixture
def root(front: FrontSettings) -> certs.RootCertificate:
    make_root(front.ca_root)
    loaded = certs.load_root(front.ca_root)
    assert loaded is not None
    return loaded


def set_mode(settings: Any, mode: str, **changes: Any) -> None:
    settings.FRONT = dataclasses.replace(settings.FRONT, mode=mode, **changes)


def body(response: Any) -> str:
    return str(response.content.decode())


def open_plain_http(client: Client, uri: str | None, host: str = "meet.example.vn") -> Any:
    """What Caddy sends for a plain-http request: /ca/continue/ with the original address."""
    headers = {"Host": host} if uri is None else {"Host": host, "X-Diemcau-Original-Uri": uri}
    return client.get(reverse("front:continue"), headers=headers)


# /ca/ with the local CA


def test_ca_page_offers_the_root_and_shows_its_fingerprint(
    client: Client, root: certs.RootCertificate
) -> None:
    page = client.get(reverse("front:ca"), HTTP_HOST="10.0.0.5")
    assert page.status_code == 200
    html = body(page)
    assert 'href="/ca/diemcau-ca.crt"' in html
    assert root.sha256 in html
    assert root.common_name in html
    for section in ("windows", "macos", "ubuntu", "android", "it-officer"):
        assert f'id="{section}"' in html


def test_crt_download_is_the_root_file(client: Client, root: certs.RootCertificate) -> None:
    response = client.get(reverse("front:ca_cert"))
    assert response.status_code == 200
    assert response.content == root.pem
    assert response["Content-Type"] == "application/x-x509-ca-cert"
    assert response["Content-Disposition"] == 'attachment; filename="diemcau-ca.crt"'


def test_cer_download_is_der_and_hashes_to_the_fingerprint(
    client: Client, root: certs.RootCertificate
) -> None:
    response = client.get(reverse("front:ca_cert_der"))
    assert response.status_code == 200
    assert response.content == root.der
    assert hashlib.sha256(response.content).hexdigest().upper() == root.sha256_hex
    assert response["Content-Disposition"] == 'attachment; filename="diemcau-ca.cer"'


def test_it_officer_commands_check_the_fingerprint_of_this_server(
    client: Client, root: certs.RootCertificate
) -> None:
    html = body(client.get(reverse("front:ca"), HTTP_HOST="10.0.0.5"))
    windows = re.search(r'<code id="cmd-windows">(.*?)</code>', html, re.S)
    ubuntu = re.search(r'<code id="cmd-ubuntu">(.*?)</code>', html, re.S)
    assert windows and ubuntu
    assert "http://10.0.0.5/ca/diemcau-ca.cer" in windows[1]
    assert f"-eq &quot;{root.sha256_hex}&quot;" in windows[1]
    assert "Cert:\\LocalMachine\\Root" in windows[1]
    assert "http://10.0.0.5/ca/diemcau-ca.crt" in ubuntu[1]
    assert f"= &quot;{root.sha256}&quot;" in ubuntu[1]
    assert "update-ca-certificates" in ubuntu[1]


def test_ca_page_checks_trust_on_the_https_address_the_browser_used(
    client: Client, root: certs.RootCertificate
) -> None:
    html = body(client.get(reverse("front:ca"), HTTP_HOST="meet.example.vn"))
    assert 'data-check-url="https://meet.example.vn/ca/trust-check/"' in html
    html = body(client.get(reverse("front:ca"), HTTP_HOST="[fd00::5]"))
    assert 'data-check-url="https://[fd00::5]/ca/trust-check/"' in html
    assert "http://[fd00::5]/ca/diemcau-ca.cer" in html


def test_ca_page_loads_its_script_and_catalog_without_inline_code(
    client: Client, root: certs.RootCertificate
) -> None:
    html = body(client.get(reverse("front:ca")))
    assert f'src="{reverse("javascript-catalog")}"' in html
    assert 'src="/static/front/trust.js"' in html
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert " on" + "click=" not in html


def test_root_not_written_yet_says_how_to_start_the_front(
    client: Client, front: FrontSettings
) -> None:
    for name in ("front:ca_cert", "front:ca_cert_der"):
        response = client.get(reverse(name))
        assert response.status_code == 404
        assert "diemcau serve" in body(response)
        assert response["Content-Type"].startswith("text/plain")
    page = client.get(reverse("front:ca"))
    assert page.status_code == 200
    assert "diemcau serve" in body(page)
    assert "diemcau-ca.crt" not in body(page)


def test_malformed_root_is_an_error_naming_the_file(client: Client, front: FrontSettings) -> None:
    front.ca_root.parent.mkdir(parents=True)
    front.ca_root.write_text("garbage")
    with pytest.raises(certs.RootCertificateError, match=r"root\.crt"):
        client.get(reverse("front:ca"))


# Other modes


def test_publicly_trusted_certificate_has_nothing_to_install(
    client: Client, settings: Any, front: FrontSettings
) -> None:
    set_mode(settings, "acme", domain="meet.example.vn")
    make_root(front.ca_root)  # left over from an internal-CA past: not offered
    html = body(client.get(reverse("front:ca"), HTTP_HOST="meet.example.vn"))
    assert "tin cậy công khai" in html  # Vietnamese first: "publicly trusted"
    assert 'href="https://meet.example.vn/"' in html
    assert "diemcau-ca.crt" not in html
    for name in ("front:ca_cert", "front:ca_cert_der"):
        response = client.get(reverse(name))
        assert response.status_code == 404
        assert "không cần cài đặt gì" in body(response)  # "nothing to install"


def test_organisation_certificate_sends_people_to_their_it_department(
    client: Client, settings: Any, front: FrontSettings
) -> None:
    set_mode(settings, "own", tls_cert="/etc/ssl/org.pem", tls_key="/etc/ssl/org.key")
    html = body(client.get(reverse("front:ca")))
    assert "bộ phận CNTT" in html  # Vietnamese first: "the IT department"
    assert "diemcau-ca.crt" not in html
    assert client.get(reverse("front:ca_cert")).status_code == 404


def test_trust_check_is_an_uncached_204(client: Client, front: FrontSettings) -> None:
    response = client.get(reverse("front:trust_check"))
    assert response.status_code == 204
    assert not response.content
    assert "Content-Type" not in response
    assert "no-store" in response["Cache-Control"]


# /ca/continue/: every plain-http address


def test_continue_page_links_to_the_same_address_over_https(
    client: Client, root: certs.RootCertificate
) -> None:
    uri = f"/join/7/CSDN/{TOKEN}?x=1&y=2"
    page = open_plain_http(client, uri, host="10.0.0.5")
    assert page.status_code == 200
    html = body(page)
    assert f'href="https://10.0.0.5/join/7/CSDN/{TOKEN}?x=1&amp;y=2"' in html
    assert 'data-check-url="https://10.0.0.5/ca/trust-check/"' in html
    assert 'href="/ca/"' in html
    assert root.sha256 in html


def test_continue_page_keeps_the_https_port(
    client: Client, settings: Any, front: FrontSettings
) -> None:
    set_mode(settings, "internal", https_port=8443)
    page = open_plain_http(client, "/x", host="localhost:8080")
    assert 'href="https://localhost:8443/x"' in body(page)


@pytest.mark.parametrize(
    "uri",
    [
        "//evil.example/x",
        "/\\evil.example/x",
        "/\t/evil.example/x",
        "http://evil.example/x",
        "https:evil.example",
        "javascript:alert(1)",
        "evil.example/x",
        "",
        "/" + "a" * 2000,
    ],
)
def test_continue_page_never_links_off_site(client: Client, front: FrontSettings, uri: str) -> None:
    page = open_plain_http(client, uri, host="10.0.0.5")
    assert 'id="continue-link" href="https://10.0.0.5/"' in body(page)
    assert "evil" not in body(page)


def test_continue_page_percent_encodes_what_a_link_may_not_hold(
    client: Client, front: FrontSettings
) -> None:
    uri = '/meetings/"><b>x</b>?q=%C4%90i%E1%BB%83m c'
    page = open_plain_http(client, uri, host="10.0.0.5")
    assert (
        'href="https://10.0.0.5/meetings/%22%3E%3Cb%3Ex%3C/b%3E?q=%C4%90i%E1%BB%83m%20c"'
        in body(page)
    )


def test_continue_page_without_an_original_address_goes_home(
    client: Client, front: FrontSettings
) -> None:
    page = open_plain_http(client, None)
    assert 'id="continue-link" href="https://meet.example.vn/"' in body(page)


def test_continue_page_uses_the_server_address_for_a_host_it_does_not_know(
    client: Client, front: FrontSettings
) -> None:
    page = open_plain_http(client, "/x", host="other.example")
    assert 'href="https://meet.example.vn/x"' in body(page)
    assert "other.example" not in body(page)


def test_continue_page_is_neither_cached_nor_sent_as_referrer(
    client: Client, front: FrontSettings
) -> None:
    page = open_plain_http(client, f"/join/7/CSDN/{TOKEN}")
    assert "no-store" in page["Cache-Control"]
    assert page["Referrer-Policy"] == "no-referrer"
    assert '<meta name="referrer" content="no-referrer">' in body(page)


def test_continue_page_echoes_the_join_token_only_in_the_link(
    client: Client, root: certs.RootCertificate
) -> None:
    path = reverse("front:continue") + f"?t={TOKEN}"  # Caddy keeps the query in its rewrite
    page = client.get(path, headers={"X-Diemcau-Original-Uri": f"/join/7/CSDN/{TOKEN}?t={TOKEN}"})
    assert body(page).count(TOKEN) == 2
    assert re.search(rf'href="[^"]*{TOKEN}\?t={TOKEN}"', body(page))
    assert not page.cookies


def test_continue_page_answers_a_form_posted_over_plain_http(
    client: Client, front: FrontSettings
) -> None:
    posting = Client(enforce_csrf_checks=True)
    page = posting.post(
        reverse("front:continue"),
        {"language": "en"},
        headers={"X-Diemcau-Original-Uri": "/i18n/setlang/"},
    )
    assert page.status_code == 200
    assert 'href="https://meet.example.vn/i18n/setlang/"' in body(page)


def test_continue_page_says_nothing_about_the_local_ca_without_one(
    client: Client, settings: Any, front: FrontSettings
) -> None:
    set_mode(settings, "acme", domain="meet.example.vn")
    html = body(client.get(reverse("front:continue")))
    assert 'href="/ca/"' not in html


@pytest.mark.parametrize(
    "name",
    ["front:ca", "front:ca_cert", "front:ca_cert_der", "front:trust_check", "front:continue"],
)
def test_every_page_works_anonymously_in_vietnamese(
    client: Client, root: certs.RootCertificate, name: str
) -> None:
    response = client.get(reverse(name), HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code in (200, 204)
    if response.get("Content-Type", "").startswith("text/html"):
        assert '<html lang="vi">' in body(response)
        # Translations are merged later: until then the English text shows.
        assert "Điểm Cầu" in body(response)
