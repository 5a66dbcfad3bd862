"""The local CA's root certificate, as the front's `/ca/` page offers it.

Docs: docs/deploy.md ("The HTTPS front"). Caddy writes the root (PEM) into its storage on its
first start; we only read it: to serve it (PEM and DER) and to show its SHA-256 fingerprint,
written the way browsers and ``openssl x509 -fingerprint -sha256`` show it, so a person can
compare the two by eye.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID


class RootCertificateError(ValueError):
    """The root certificate file exists but is not a PEM certificate; the message names it."""


@dataclass(frozen=True)
class RootCertificate:
    pem: bytes
    der: bytes
    sha256: str  # "AB:CD:…", upper-case hex pairs
    subject: str  # RFC 4514, e.g. "CN=Caddy Local Authority - 2025 ECC Root"
    common_name: (
        str  # the name certificate lists show, e.g. "Caddy Local Authority - 2025 ECC Root"
    )
    not_after: datetime  # aware, UTC

    @property
    def sha256_hex(self) -> str:
        """The fingerprint without colons, as PowerShell's ``Get-FileHash`` prints it."""
        return self.sha256.replace(":", "")


def load_root(path: Path) -> RootCertificate | None:
    """The root at `path`, or None when Caddy has not written it yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise RootCertificateError(f"{path}: not a PEM certificate ({exc})") from exc
    return RootCertificate(
        pem=cert.public_bytes(Encoding.PEM),
        der=cert.public_bytes(Encoding.DER),
        sha256=_fingerprint(cert),
        subject=cert.subject.rfc4514_string(),
        common_name=_common_name(cert),
        not_after=cert.not_valid_after_utc,
    )


def fingerprint_of(pem: bytes) -> str:
    """The SHA-256 fingerprint of a PEM certificate (of its DER form), e.g. "AB:CD:…"."""
    return _fingerprint(x509.load_pem_x509_certificate(pem))


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
