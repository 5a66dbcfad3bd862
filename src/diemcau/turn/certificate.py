"""The certificate coturn presents for TURN over TLS (`turns:`), by the front's mode.

Browsers check it like the page's: it must name the host the page was opened at.

* ``internal``: Caddy's leaves last 12 hours and coturn 4.6 cannot reload a certificate
  without a restart (which would drop every relayed site), so we issue coturn a leaf of its
  own from the same local CA that room PCs already trust: the same names as the front's,
  90 days, re-issued at start when fewer than 30 days are left (or the names or the CA
  changed), and checked hourly by `serve` (re-issued, and coturn restarted, only when fewer
  than 7 days are left: a server that runs for months without a restart).
* ``acme``: Caddy's certificate for the domain, read from its storage; renewed by Caddy
  about every 60 days; `serve` restarts coturn when the file changes.
* ``own``: the organisation's ``DIEMCAU_TLS_CERT``/``DIEMCAU_TLS_KEY``.
* ``external``/``none``: no certificate here: TURN over TLS is off (UDP and TCP remain).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from diemcau.config import FrontSettings

LIFETIME = dt.timedelta(days=90)
RENEW_AT_START = dt.timedelta(days=30)
RENEW_RUNNING = dt.timedelta(days=7)
CERT_FILE = "turn.crt"
KEY_FILE = "turn.key"


class CertificateUnavailable(RuntimeError):
    """No certificate for TURN over TLS yet; the message says why."""


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def stamp(self) -> tuple[float, float]:
        """Changes whenever either file is replaced (the supervisor restarts coturn)."""
        return (self.cert.stat().st_mtime, self.key.stat().st_mtime)


def tls_files(front: FrontSettings, folder: Path, *, running: bool = False) -> TlsFiles | None:
    """The certificate and key coturn should use now (None: no TURN over TLS)."""
    if front.mode == "own":
        return TlsFiles(Path(front.tls_cert), Path(front.tls_key))
    if front.mode == "acme":
        return _acme_files(front)
    if front.mode == "internal":
        return issue_from_local_ca(
            front, folder, renew_within=RENEW_RUNNING if running else RENEW_AT_START
        )
    return None


def _acme_files(front: FrontSettings) -> TlsFiles:
    certificates = front.storage / "certificates"
    for cert in sorted(certificates.glob(f"*/{front.domain}/{front.domain}.crt")):
        key = cert.with_suffix(".key")
        if key.is_file():
            return TlsFiles(cert, key)
    raise CertificateUnavailable(
        f"Caddy has no certificate for {front.domain} yet (looked in {certificates})"
    )


def issue_from_local_ca(
    front: FrontSettings,
    folder: Path,
    *,
    renew_within: dt.timedelta = RENEW_AT_START,
    now: dt.datetime | None = None,
) -> TlsFiles:
    """coturn's own leaf, signed by Caddy's local root, re-issued only when needed."""
    now = now or dt.datetime.now(dt.UTC)
    authority = front.storage / "pki" / "authorities" / "local"
    try:
        root = x509.load_pem_x509_certificate((authority / "root.crt").read_bytes())
        root_key = serialization.load_pem_private_key(
            (authority / "root.key").read_bytes(), password=None
        )
    except FileNotFoundError as exc:
        raise CertificateUnavailable(
            f"Caddy's local CA is not in {authority} yet (start Caddy first)"
        ) from exc
    files = TlsFiles(folder / CERT_FILE, folder / KEY_FILE)
    names = _names(front.names)
    if _still_good(files, root, names, now + renew_within):
        return files
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Điểm Cầu TURN")]))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(min(now + LIFETIME, root.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(root_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    folder.mkdir(parents=True, exist_ok=True)
    _write(
        files.key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    # The chain up to the root, as a browser expects it from a server.
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    return files


def _names(names: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _still_good(
    files: TlsFiles, root: x509.Certificate, names: list[x509.GeneralName], until: dt.datetime
) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        if not files.key.is_file():
            return False
    except (FileNotFoundError, ValueError):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return (
        cert.issuer == root.subject
        and cert.not_valid_after_utc > until
        and set(san) == set(names)
        and _signed_by(cert, root)
    )


def _signed_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)
