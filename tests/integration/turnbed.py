"""coturn in a test bed host: a throwaway local CA for its TLS certificate, and start-up
(shared by test_turn_relay.py and test_doctor_turn.py)."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from diemcau.turn import turnconfig
from diemcau.turn.turnconfig import TurnConfig
from tests.netbed import Host


def make_ca(front_folder: Path) -> Path:
    """A throwaway root where Caddy keeps its local CA (what turn/certificate.py reads and
    doctor trusts): ``<front folder>/storage/pki/authorities/local/root.{crt,key}``."""
    authority = front_folder / "storage" / "pki" / "authorities" / "local"
    authority.mkdir(parents=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TURN test root")])
    now = dt.datetime.now(dt.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (authority / "root.crt").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (authority / "root.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return authority / "root.crt"


def wait_listening(host: Host, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not host.can_connect_tcp(host.ip, port, timeout=0.5):
        if time.monotonic() > deadline:
            pytest.fail(f"coturn does not listen on {host.ip}:{port} after {timeout} s")
        time.sleep(0.1)


def start_coturn(host: Host, config: TurnConfig) -> subprocess.Popen[bytes]:
    """coturn with the config turnconfig renders, inside `host`, once its ports accept."""
    turnconfig.write(config)
    # Where TurnSupervisor puts it too: coturn complains on stderr about each IPv6 socket
    # the bed's hosts cannot open.
    with (config.folder / "turn.stdout.log").open("ab") as output:
        proc = host.popen(turnconfig.command(config), stdout=output, stderr=output)
    wait_listening(host, config.port)
    if config.tls_port:
        wait_listening(host, config.tls_port)
    return proc
