"""`diemcau doctor`'s judgements, from what it found to ✓ or a Problem saying what to change
(the findings themselves are faked here; tests/integration/test_doctor_turn.py runs doctor
against a real coturn)."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.utils import translation

from diemcau.config import FrontSettings, PortRange, TurnSettings
from diemcau.listening import Listener
from diemcau.live.management.commands.doctor import (
    Expected,
    PeerCertificate,
    Problem,
    check_names,
    expected_ports,
    judge_domain,
    judge_port,
    judge_rtp_range,
    judge_turn_config,
    judge_turn_probe,
    names_to_check,
    read_turn_config,
)
from diemcau.turn import turnconfig
from diemcau.turn.probe import Allocation, Outcome, ProbeReport, Refusal
from diemcau.turn.turnconfig import TurnConfig

NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
SECRET = "s" * 40
HTTPS = Expected("tcp", 443, "HTTPS", "DIEMCAU_HTTPS_PORT", ("caddy",), "network")
JANUS_WS = Expected("tcp", 8188, "Janus WebSocket", "DIEMCAU_JANUS_WS_PORT", ("janus",), "loopback")


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def front(mode: str = "internal", **kwargs: object) -> FrontSettings:
    values: dict[str, object] = {
        "mode": mode,
        "names": ("10.77.0.1", "server", "localhost", "127.0.0.1"),
        "https_port": 443,
        "http_port": 80,
        "app_port": 8000,
        "folder": Path("/nonexistent"),
        **kwargs,
    }
    return FrontSettings(**values)  # type: ignore[arg-type]


def turn(mode: str = "embedded", tls_port: int = 5349) -> TurnSettings:
    return TurnSettings(
        mode=mode,
        secret=SECRET,
        port=3478,
        tls_port=tls_port,
        relay_ports=PortRange(49152, 65535),
        public_ip="",
        host="",
        max_bps=1_250_000,
        user_quota=16,
        total_quota=1200,
    )


# --- ports ----------------------------------------------------------------------------------


def test_the_ports_expected_follow_the_front_janus_and_turn_modes() -> None:
    ports = expected_ports(front(), turn(), "ws://127.0.0.1:8188", janus_embedded=True)
    assert [(e.proto, e.port, e.reach) for e in ports] == [
        ("tcp", 443, "network"),
        ("tcp", 80, "network"),
        ("tcp", 8188, "loopback"),
        ("udp", 3478, "network"),
        ("tcp", 3478, "network"),
        ("tcp", 5349, "network"),
    ]
    bare = expected_ports(front("none"), turn("off"), "ws://10.0.0.5:8188", janus_embedded=False)
    assert bare == []
    # No certificate from an external front: serve opens no TURN over TLS.
    for settings_ in (turn(tls_port=0), turn()):
        no_tls = expected_ports(front("external"), settings_, "", janus_embedded=False)
        assert [(e.proto, e.port) for e in no_tls] == [("udp", 3478), ("tcp", 3478)]


def test_a_port_held_by_our_program_on_every_address_is_right() -> None:
    found = [Listener("tcp", "*", 443, "caddy", 900), Listener("tcp", "::", 443, "caddy", 900)]
    assert judge_port(HTTPS, found) == "caddy (pid 900) on *:443"


def test_nothing_listening_says_to_start_serve_and_names_the_setting() -> None:
    with pytest.raises(Problem, match=r"nothing listens on TCP 443.*DIEMCAU_HTTPS_PORT"):
        judge_port(HTTPS, [Listener("udp", "*", 443, "caddy", 900)])


def test_a_port_held_by_another_program_names_it_and_how_to_stop_it() -> None:
    found = [Listener("tcp", "0.0.0.0", 443, "nginx", 812)]  # noqa: S104 - a bound address
    with pytest.raises(Problem) as exc:
        judge_port(HTTPS, found)
    assert str(exc.value) == (
        "TCP 443 is held by nginx (pid 812), not caddy: stop that program (if it is a system "
        "service: systemctl disable --now nginx), or move ours with DIEMCAU_HTTPS_PORT"
    )


def test_a_public_port_on_loopback_only_is_a_problem() -> None:
    with pytest.raises(Problem, match=r"127\.0\.0\.1:443 only: other PCs cannot reach it"):
        judge_port(HTTPS, [Listener("tcp", "127.0.0.1", 443, "caddy", 1)])


def test_janus_websocket_on_the_network_is_a_problem() -> None:
    assert "janus (pid 7) on 127.0.0.1:8188" in judge_port(
        JANUS_WS, [Listener("tcp", "127.0.0.1", 8188, "janus", 7)]
    )
    with pytest.raises(Problem, match=r"\*:8188: reachable from the network without HTTPS"):
        judge_port(JANUS_WS, [Listener("tcp", "*", 8188, "janus", 7)])


def test_a_port_whose_program_is_hidden_is_not_blamed_on_another() -> None:
    assert "run as root" in judge_port(HTTPS, [Listener("tcp", "*", 443)])


def test_rtp_range_names_a_stranger_inside_it() -> None:
    ports = PortRange(20000, 40000)
    janus = [Listener("udp", "10.77.0.1", 20001, "janus", 7)] * 3
    assert judge_rtp_range(ports, janus, "10.77.0.1") == (
        "UDP 20000-40000: 3 in use by Janus on 10.77.0.1"
    )
    assert "none open now" in judge_rtp_range(ports, [], "10.77.0.1")
    stranger = [*janus, Listener("udp", "*", 30000, "turnserver", 9)]
    with pytest.raises(Problem, match=r"turnserver \(pid 9\) holds \*:30000"):
        judge_rtp_range(ports, stranger, "10.77.0.1")


# --- certificates -----------------------------------------------------------------------------


def fake_reader(
    valid: dict[str, dt.datetime],
) -> Callable[[str, int, ssl.SSLContext], PeerCertificate]:
    def read(name: str, port: int, context: ssl.SSLContext) -> PeerCertificate:
        if name not in valid:
            error = ssl.SSLCertVerificationError("certificate verify failed")
            error.verify_message = f"Hostname mismatch, certificate is not valid for '{name}'."
            raise error
        return PeerCertificate(tuple(valid), valid[name])

    return read


def run_names(valid: dict[str, dt.datetime], required: list[str], optional: list[str]) -> str:
    return check_names(
        443,
        ssl.create_default_context(),
        required,
        optional,
        warn_within=dt.timedelta(days=14),
        hint="HINT",
        renew_hint="RENEW",
        now=NOW,
        read=fake_reader(valid),
    )


def test_every_name_served_is_checked_and_the_soonest_expiry_shown() -> None:
    later = NOW + dt.timedelta(days=60)
    detail = run_names({"a.example": later, "10.0.0.5": later}, ["a.example", "10.0.0.5"], [])
    assert detail.startswith("port 443: valid for a.example, 10.0.0.5; expires ")
    assert detail.endswith("in 60 days")


def test_a_required_name_the_certificate_does_not_cover_is_a_problem() -> None:
    later = NOW + dt.timedelta(days=60)
    with pytest.raises(Problem) as exc:
        run_names({"a.example": later}, ["a.example", "10.0.0.5"], [])
    assert str(exc.value) == (
        "TLS on port 443 fails for 10.0.0.5 (Hostname mismatch, certificate is not valid for "
        "'10.0.0.5'.); HINT"
    )


def test_optional_names_not_covered_are_reported_not_failed() -> None:
    later = NOW + dt.timedelta(days=60)
    detail = run_names({"a.example": later}, ["a.example"], ["10.0.0.5"])
    assert detail.endswith("not covered (pages opened by these names warn): 10.0.0.5")


def test_a_certificate_near_its_end_says_how_to_renew() -> None:
    soon = NOW + dt.timedelta(hours=30)
    with pytest.raises(Problem, match=r"expires .*in 30 hours; RENEW"):
        run_names({"a.example": soon}, ["a.example"], [])


def test_the_names_checked_follow_the_front_mode() -> None:
    assert names_to_check(front("acme", domain="hop.example")) == (("hop.example",), ())
    own = front("own", domain="hop.example", names=("hop.example", "10.0.0.5"))
    assert names_to_check(own) == (("hop.example",), ("10.0.0.5",))
    internal = front("internal")
    assert names_to_check(internal) == (internal.names, ())


# --- domain -------------------------------------------------------------------------------------


def test_a_domain_resolving_to_this_server_is_right() -> None:
    assert judge_domain("hop.example", ["10.0.0.5"], ["10.0.0.5"], "") == (
        "hop.example → 10.0.0.5 (this server)"
    )


def test_a_domain_resolving_to_the_public_ip_of_a_1_to_1_nat_is_right() -> None:
    got = judge_domain("hop.example", ["203.0.113.7"], ["10.0.0.5"], "203.0.113.7")
    assert "DIEMCAU_PUBLIC_IP" in got


def test_a_domain_resolving_elsewhere_suggests_the_dns_record_or_public_ip() -> None:
    with pytest.raises(Problem, match=r"set DIEMCAU_PUBLIC_IP=203\.0\.113\.9$"):
        judge_domain("hop.example", ["203.0.113.9"], ["10.0.0.5"], "")
    with pytest.raises(Problem, match=r"neither DIEMCAU_PUBLIC_IP \(203\.0\.113\.7\)"):
        judge_domain("hop.example", ["203.0.113.9"], ["10.0.0.5"], "203.0.113.7")
    with pytest.raises(Problem, match=r"/etc/hosts"):
        judge_domain("hop.example", ["127.0.1.1"], ["10.0.0.5"], "")


# --- TURN -----------------------------------------------------------------------------------------


def written_config(tmp_path: Path, **kwargs: object) -> dict[str, str]:
    values: dict[str, object] = {
        "folder": tmp_path,
        "secret": SECRET,
        "realm": "10.77.0.1",
        "relay_ip": "10.77.0.1",
        "tls_port": 5349,
        "cert_file": tmp_path / "turn.crt",
        "key_file": tmp_path / "turn.key",
        **kwargs,
    }
    return read_turn_config(turnconfig.write(TurnConfig(**values)))  # type: ignore[arg-type]


def test_coturns_config_as_serve_wrote_it_is_right(tmp_path: Path) -> None:
    values = written_config(tmp_path)
    assert values["listening-port"] == "3478"
    assert "no-tcp-relay" in values
    assert judge_turn_config(turn(), values, "10.77.0.1") == (
        "embedded: UDP and TCP 3478, TLS 5349; relays to 10.77.0.1 only"
    )


def test_turn_over_tls_left_off_at_start_is_a_problem(tmp_path: Path) -> None:
    values = written_config(tmp_path, tls_port=0, cert_file=None, key_file=None)
    with pytest.raises(Problem, match="TURN over TLS is off"):
        judge_turn_config(turn(), values, "10.77.0.1")
    assert "TLS" not in judge_turn_config(turn(tls_port=0), values, "10.77.0.1")


def test_coturn_started_with_other_settings_says_restart(tmp_path: Path) -> None:
    values = written_config(tmp_path)
    with pytest.raises(Problem, match=r"relays from 10\.77\.0\.1 but .* is 10\.77\.0\.9"):
        judge_turn_config(turn(), values, "10.77.0.9")
    values = written_config(tmp_path, port=3479)
    with pytest.raises(Problem, match="port 3479 but DIEMCAU_TURN_PORT is 3478"):
        judge_turn_config(turn(), values, "10.77.0.1")


FORBIDDEN_IP = Refusal(403, "Forbidden IP")


def report(refusal: Refusal | None = None, loopback: Refusal | None = FORBIDDEN_IP) -> ProbeReport:
    allocation = (
        Allocation(refusal=refusal) if refusal else Allocation(relayed=("10.77.0.1", 50123))
    )
    return ProbeReport(
        "udp 10.77.0.1:3478",
        allocation,
        (Outcome(("10.77.0.1", 9)), Outcome(("127.0.0.1", 9), loopback)),
    )


def test_an_allocation_that_relays_to_janus_only_is_right() -> None:
    assert judge_turn_probe(report(), "10.77.0.1", external=False) == (
        "udp 10.77.0.1:3478 allocates (relayed at 10.77.0.1:50123), relays to Janus at "
        "10.77.0.1, refuses 127.0.0.1"
    )


def test_a_refused_credential_points_at_another_coturn_or_the_secret() -> None:
    with pytest.raises(Problem, match=r"401 Unauthorized.*systemctl disable --now coturn"):
        judge_turn_probe(report(Refusal(401, "Unauthorized")), "10.77.0.1", external=False)
    with pytest.raises(Problem, match="DIEMCAU_TURN_SECRET"):
        judge_turn_probe(report(Refusal(401, "Unauthorized")), "10.77.0.1", external=True)


def test_a_relay_to_loopback_means_not_our_config() -> None:
    with pytest.raises(Problem, match=r"would relay to 127\.0\.0\.1"):
        judge_turn_probe(report(loopback=None), "10.77.0.1", external=False)
