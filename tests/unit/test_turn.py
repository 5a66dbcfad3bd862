"""TURN: credentials, coturn's config, its certificate, and who gets credentials."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from diemcau import config
from diemcau.accounts.models import Role
from diemcau.config import ConfigError, FrontSettings, TurnSettings
from diemcau.live import media_policy
from diemcau.live.actions import NOT_ALLOWED, NOT_INVITED, Actor
from diemcau.live.services import Refused
from diemcau.meetings.models import Invitation, Meeting
from diemcau.meetings.services import revoke_join_link
from diemcau.sfu import rooms
from diemcau.turn import certificate, credentials, turnconfig
from diemcau.turn.turnconfig import TurnConfig
from tests.conftest import MakeUser, Org

SECRET = "s" * 40
NOW = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)


def turn(**changes: Any) -> TurnSettings:
    base = config.turn_settings({"turn_auth_secret": SECRET}, environ={})
    return dataclasses.replace(base, **changes)


# --- credentials ---------------------------------------------------------------------------


def test_a_credential_is_coturns_rest_formula() -> None:
    cred = credentials.issue(SECRET, "m3-s7", 1_800_000_000)
    assert cred.username == "1800000000:m3-s7"
    expected = hmac.new(SECRET.encode(), b"1800000000:m3-s7", hashlib.sha1).digest()
    assert base64.b64decode(cred.password) == expected
    assert cred.participant == "m3-s7"


@pytest.mark.parametrize("participant", ["", "a:b", "x" * 65, "m1 s2", "ờ"])
def test_a_participant_name_that_would_confuse_the_username_is_refused(participant: str) -> None:
    with pytest.raises(ValueError, match="participant"):
        credentials.issue(SECRET, participant, 1)


def test_it_expires_15_minutes_after_the_meetings_end() -> None:
    end = NOW + dt.timedelta(hours=3)
    assert credentials.expiry(NOW, end, turn()) == int((end + dt.timedelta(minutes=15)).timestamp())


def test_an_overrunning_meeting_still_gets_an_hour() -> None:
    end = NOW - dt.timedelta(minutes=30)
    assert credentials.expiry(NOW, end, turn()) == int((NOW + dt.timedelta(hours=1)).timestamp())


def test_never_more_than_12_hours() -> None:
    end = NOW + dt.timedelta(days=2)
    assert credentials.expiry(NOW, end, turn()) == int((NOW + dt.timedelta(hours=12)).timestamp())


def test_ice_servers_offer_udp_tcp_and_tls_on_the_pages_own_host() -> None:
    cred = credentials.issue(SECRET, "m1-s2", 1)
    [server] = credentials.ice_servers(turn(), "10.77.0.1", cred)
    assert server["urls"] == [
        "turn:10.77.0.1:3478?transport=udp",
        "turn:10.77.0.1:3478?transport=tcp",
        "turns:10.77.0.1:5349?transport=tcp",
    ]
    assert (server["username"], server["credential"]) == (cred.username, cred.password)


def test_ice_servers_bracket_ipv6_and_leave_out_tls_when_off() -> None:
    cred = credentials.issue(SECRET, "m1-s2", 1)
    [server] = credentials.ice_servers(turn(tls_port=0), "2001:db8::5", cred)
    assert server["urls"] == [
        "turn:[2001:db8::5]:3478?transport=udp",
        "turn:[2001:db8::5]:3478?transport=tcp",
    ]
    assert credentials.ice_servers(turn(mode="off"), "x", cred) == []
    [ext] = credentials.ice_servers(turn(mode="external", host="turn.example.vn"), "x", cred)
    assert ext["urls"][0] == "turn:turn.example.vn:3478?transport=udp"  # type: ignore[index]


# --- settings --------------------------------------------------------------------------------


def test_relay_ports_may_not_overlap_janus_rtp_ports() -> None:
    with pytest.raises(ConfigError, match=r"DIEMCAU_TURN_RELAY_PORTS .*DIEMCAU_RTP_PORTS"):
        config.turn_settings(
            {"turn_auth_secret": SECRET},
            environ={"DIEMCAU_RTP_PORTS": "30000-50000"},
        )


@pytest.mark.parametrize("value", ["1.2.3", "127.0.0.1", "0.0.0.0", "public"])  # noqa: S104
def test_a_bad_public_ip_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match="DIEMCAU_PUBLIC_IP"):
        config.turn_settings({"turn_auth_secret": SECRET}, environ={"DIEMCAU_PUBLIC_IP": value})


def test_overlap_does_not_matter_without_an_embedded_coturn() -> None:
    environ = {"DIEMCAU_RTP_PORTS": "45000-49999", "DIEMCAU_TURN": "off"}
    assert config.turn_settings({"turn_auth_secret": SECRET}, environ=environ).mode == "off"


def test_external_turn_needs_its_host_and_secret() -> None:
    with pytest.raises(ConfigError, match="DIEMCAU_TURN_HOST"):
        config.turn_settings({"turn_auth_secret": SECRET}, environ={"DIEMCAU_TURN": "external"})
    got = config.turn_settings(
        {"turn_auth_secret": SECRET},
        environ={
            "DIEMCAU_TURN": "external",
            "DIEMCAU_TURN_HOST": "turn.example.vn",
            "DIEMCAU_TURN_SECRET": "e" * 40,
        },
    )
    assert (got.secret, got.host) == ("e" * 40, "turn.example.vn")


# --- coturn's config -------------------------------------------------------------------------


def turn_config(tmp_path: Path, **changes: Any) -> TurnConfig:
    values: dict[str, Any] = dict(
        folder=tmp_path / "turn", secret=SECRET, realm="meet.example.vn", relay_ip="10.77.0.1"
    )
    values.setdefault("tls_port", 0)
    values.update(changes)
    return TurnConfig(**values)


def options(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_it_relays_to_janus_only_and_denies_every_special_range(tmp_path: Path) -> None:
    lines = options(turnconfig.render(turn_config(tmp_path)))
    denied = [line.removeprefix("denied-peer-ip=") for line in lines if "denied-peer-ip" in line]
    # Every address a relay must never reach falls in one of the denied ranges.
    for address in (
        "127.0.0.1",
        "10.0.0.1",
        "10.77.0.12",  # another host on Janus's own network
        "169.254.169.254",
        "100.64.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "0.0.0.0",  # noqa: S104 - a peer address, not a binding
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "fe80::1",
        "fd00::1",
        "ff02::1",
        "8.8.8.8",  # anywhere else: it relays to Janus only
        "2a00:1450::1",
    ):
        ip = ipaddress.ip_address(address)
        assert any(_in_range(ip, r) for r in denied), address
    assert "allowed-peer-ip=10.77.0.1" in lines
    # Never a bare "::" (coturn reads it as every address: the list would be for show).
    assert "denied-peer-ip=::" not in lines
    assert "relay-ip=10.77.0.1" in lines
    for flag in ("no-cli", "no-tlsv1", "no-tlsv1_1", "no-tcp-relay", "use-auth-secret", "no-tls"):
        assert flag in lines, flag
    assert "user-quota=16" in lines and "total-quota=1200" in lines and "max-bps=1250000" in lines


def _in_range(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, spec: str) -> bool:
    first, _, last = spec.partition("-")
    low, high = ipaddress.ip_address(first), ipaddress.ip_address(last or first)
    return low.version == ip.version and low <= ip <= high  # type: ignore[operator]


def test_behind_nat_coturn_announces_the_public_address(tmp_path: Path) -> None:
    lines = options(turnconfig.render(turn_config(tmp_path, public_ip="203.0.113.7")))
    assert "external-ip=203.0.113.7/10.77.0.1" in lines


def test_tls_needs_a_certificate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cert_file"):
        turn_config(tmp_path, tls_port=5349)
    c = turn_config(tmp_path, tls_port=5349, cert_file=tmp_path / "c", key_file=tmp_path / "k")
    lines = options(turnconfig.render(c))
    assert "tls-listening-port=5349" in lines and f"cert={tmp_path / 'c'}" in lines


@pytest.mark.parametrize("field,value", [("secret", "short"), ("relay_ip", "127.0.0.1")])
def test_a_config_that_would_be_unsafe_is_refused(tmp_path: Path, field: str, value: str) -> None:
    with pytest.raises(ValueError, match=field):
        turn_config(tmp_path, **{field: value})


def test_the_file_holding_the_secret_is_private(tmp_path: Path) -> None:
    path = turnconfig.write(turn_config(tmp_path))
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


# --- coturn's certificate from the local CA --------------------------------------------------


def front(tmp_path: Path, names: tuple[str, ...] = ("10.77.0.1", "meet.local")) -> FrontSettings:
    return FrontSettings(
        mode="internal", names=names, https_port=443, http_port=80, app_port=8000,
        folder=tmp_path / "caddy",
    )  # fmt: skip


def make_ca(f: FrontSettings) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Local Authority")])
    root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = f.storage / "pki" / "authorities" / "local"
    folder.mkdir(parents=True)
    (folder / "root.crt").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (folder / "root.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return root


def test_coturn_gets_a_leaf_of_the_local_ca_for_every_name(tmp_path: Path) -> None:
    f = front(tmp_path)
    root = make_ca(f)
    files = certificate.issue_from_local_ca(f, tmp_path / "turn", now=NOW)
    leaf = x509.load_pem_x509_certificate(files.cert.read_bytes())
    leaf.verify_directly_issued_by(root)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.77.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["meet.local"]
    assert leaf.not_valid_after_utc == NOW + certificate.LIFETIME
    assert files.key.stat().st_mode & 0o777 == 0o600


def test_it_is_kept_while_good_and_reissued_when_names_change_or_it_nears_expiry(
    tmp_path: Path,
) -> None:
    f = front(tmp_path)
    make_ca(f)
    folder = tmp_path / "turn"
    first = certificate.issue_from_local_ca(f, folder, now=NOW).cert.read_bytes()
    later = NOW + dt.timedelta(days=30)
    assert certificate.issue_from_local_ca(f, folder, now=later).cert.read_bytes() == first
    # 59 days later fewer than 30 are left: re-issued at start, not yet while running.
    late = NOW + dt.timedelta(days=61)
    running = certificate.RENEW_RUNNING
    kept = certificate.issue_from_local_ca(f, folder, now=late, renew_within=running)
    assert kept.cert.read_bytes() == first
    assert certificate.issue_from_local_ca(f, folder, now=late).cert.read_bytes() != first
    renamed = front(tmp_path, names=("10.77.0.1", "meet.local", "203.0.113.7"))
    second = certificate.issue_from_local_ca(renamed, folder, now=late).cert.read_bytes()
    third = certificate.issue_from_local_ca(renamed, folder, now=late).cert.read_bytes()
    assert second == third


def test_without_the_local_ca_it_says_so(tmp_path: Path) -> None:
    with pytest.raises(certificate.CertificateUnavailable, match="local CA"):
        certificate.issue_from_local_ca(front(tmp_path), tmp_path / "turn")


def test_no_tls_without_a_certificate_of_our_own(tmp_path: Path) -> None:
    none = dataclasses.replace(front(tmp_path), mode="none")
    assert certificate.tls_files(none, tmp_path / "turn") is None


# --- who gets credentials ----------------------------------------------------------------------


@pytest.fixture
def janus_room(live: Meeting, monkeypatch: pytest.MonkeyPatch) -> Meeting:
    """A live meeting whose Janus room exists (Janus itself faked: unit tests)."""
    Meeting.objects.filter(pk=live.pk).update(janus_room=4242, janus_room_secret="r" * 32)
    live.refresh_from_db()
    grant = rooms.MediaAccess(
        janus_url="/janus", core_token="core", room_id=4242, room_token="room"
    )

    def fake_grant(*args: Any, **kwargs: Any) -> rooms.MediaAccess:
        return grant

    monkeypatch.setattr(rooms, "grant_access", fake_grant)
    return live


def site_actor(meeting: Meeting, site_pk: int) -> Actor:
    """A site's page as the control socket admits it: with the nonce of its join link."""
    nonce = Invitation.objects.get(meeting=meeting, site_id=site_pk).nonce
    return Actor(meeting.pk, site_pk, hq=False, link=nonce)


def test_a_revoked_link_gets_none(janus_room: Meeting, org: Org) -> None:
    actor = site_actor(janus_room, org.site_a.pk)
    revoke_join_link(Invitation.objects.get(meeting=janus_room, site=org.site_a))
    with pytest.raises(Refused) as refused:
        media_policy.access_for(actor)
    assert refused.value.code == NOT_ALLOWED


def test_a_site_gets_credentials_for_itself_until_the_meetings_end(
    janus_room: Meeting, org: Org, settings: Any
) -> None:
    settings.TURN = turn()
    settings.FRONT = dataclasses.replace(settings.FRONT, names=("meet.example.vn", "10.77.0.1"))
    access = media_policy.access_for(site_actor(janus_room, org.site_a.pk), "10.77.0.1")
    [server] = access["ice_servers"]
    username = server["username"]
    expires, _, participant = username.partition(":")
    assert participant == f"m{janus_room.pk}-s{org.site_a.pk}"
    end = janus_room.end + credentials.GRACE_AFTER_END
    assert int(expires) == int(end.timestamp())
    assert server["credential"] == credentials.password_for(SECRET, username)
    assert server["urls"][0] == "turn:10.77.0.1:3478?transport=udp"


def test_a_host_that_is_not_ours_gets_the_servers_own_name(
    janus_room: Meeting, org: Org, settings: Any
) -> None:
    settings.TURN = turn()
    access = media_policy.access_for(site_actor(janus_room, org.site_a.pk), "evil.test")
    assert "evil.test" not in access["ice_servers"][0]["urls"][0]


def test_a_site_removed_from_the_meeting_gets_none(janus_room: Meeting, org: Org) -> None:
    Invitation.objects.filter(meeting=janus_room, site=org.site_a).delete()
    with pytest.raises(Refused) as refused:
        media_policy.access_for(Actor(janus_room.pk, org.site_a.pk, hq=False))
    assert refused.value.code == NOT_INVITED


def test_a_delegates_phone_gets_none(janus_room: Meeting, org: Org) -> None:
    with pytest.raises(Refused) as refused:
        media_policy.access_for(Actor(janus_room.pk, org.site_a.pk, hq=False, voter="v1"))
    assert refused.value.code == NOT_ALLOWED


def test_a_disabled_hq_account_gets_none(
    janus_room: Meeting, org: Org, make_user: MakeUser
) -> None:
    user = make_user(Role.CHAIR)
    actor = Actor(janus_room.pk, org.main.pk, hq=True, user=user, chair=True)
    assert media_policy.access_for(actor)["ice_servers"]
    user.is_active = False
    user.save()
    with pytest.raises(Refused) as refused:
        media_policy.access_for(actor)
    assert refused.value.code == NOT_ALLOWED


def test_no_credentials_when_the_meeting_is_not_live(meeting: Meeting, org: Org) -> None:
    with pytest.raises(Refused):
        media_policy.access_for(Actor(meeting.pk, org.site_a.pk, hq=False))
