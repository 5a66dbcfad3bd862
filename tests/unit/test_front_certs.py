"""The local CA's root as `/ca/` reads it (diemcau.front.certs)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from diemcau.front import certs

ROOT_NAME = "Caddy Local Authority - 2026 ECC Root"


def make_root(path: Path, name: str = ROOT_NAME) -> bytes:
    """Write a self-signed CA certificate (PEM) to `path`, like Caddy's root.crt."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(Encoding.PEM)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pem)
    return pem


def test_root_is_read_as_pem_der_fingerprint_subject_and_expiry(tmp_path: Path) -> None:
    pem = make_root(tmp_path / "root.crt")
    root = certs.load_root(tmp_path / "root.crt")
    assert root is not None
    assert root.pem == pem
    assert x509.load_der_x509_certificate(root.der).public_bytes(Encoding.PEM) == pem
    assert root.subject == f"CN={ROOT_NAME}"
    assert root.common_name == ROOT_NAME
    assert root.not_after.tzinfo is not None
    assert root.not_after.utcoffset() == timedelta(0)
    assert root.not_after > datetime.now(UTC) + timedelta(days=3000)


def test_fingerprint_is_sha256_of_der_in_upper_case_pairs(tmp_path: Path) -> None:
    pem = make_root(tmp_path / "root.crt")
    root = certs.load_root(tmp_path / "root.crt")
    assert root is not None
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", root.sha256)
    digest = hashlib.sha256(root.der).hexdigest().upper()
    assert root.sha256.replace(":", "") == digest == root.sha256_hex
    assert certs.fingerprint_of(pem) == root.sha256


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_fingerprint_reads_the_way_openssl_shows_it(tmp_path: Path) -> None:
    pem = make_root(tmp_path / "root.crt")
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(tmp_path / "root.crt")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().split("=", 1)[1] == certs.fingerprint_of(pem)


def test_root_not_written_yet_is_none(tmp_path: Path) -> None:
    assert certs.load_root(tmp_path / "pki" / "root.crt") is None


def test_malformed_root_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "root.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(certs.RootCertificateError, match=re.escape(str(path))):
        certs.load_root(path)
