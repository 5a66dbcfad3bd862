"""diemcau.listening: `ss -lntupH` and /proc/net read into listeners (doctor's port check)."""

from __future__ import annotations

from pathlib import Path

from diemcau.listening import Listener, on_port, parse_proc_net, parse_ss

# Lines as `ss -lntupH` and /proc/net/* print them.
SAMPLES = Path(__file__).parent / "samples"

SS = (SAMPLES / "ss-lntupH.txt").read_text()
PROC_TCP = (SAMPLES / "proc-net-tcp.txt").read_text()
PROC_TCP6 = (SAMPLES / "proc-net-tcp6.txt").read_text()
PROC_UDP = (SAMPLES / "proc-net-udp.txt").read_text()


def test_ss_lines_become_listeners_with_their_program() -> None:
    found = parse_ss(SS)
    assert found[0] == Listener("udp", "10.77.0.1", 3478, "turnserver", 4242)
    assert Listener("udp", "127.0.0.53", 53, "systemd-resolve", 512) in found
    assert Listener("udp", "fe80::1", 123, "chronyd", 600) in found
    assert Listener("tcp", "::ffff:127.0.0.1", 8188, "janus", 700) in found


def test_any_address_and_loopback_are_told_apart() -> None:
    found = parse_ss(SS)
    (https,) = on_port(found, "tcp", 443)
    assert https.any_address and not https.loopback
    assert https.where == "*:443"
    assert https.holder == "caddy (pid 900)"
    (janus,) = on_port(found, "tcp", 8188)
    assert janus.loopback and janus.where == "[::ffff:127.0.0.1]:8188"


def test_a_socket_shared_by_two_processes_is_listed_for_each() -> None:
    app = on_port(parse_ss(SS), "tcp", 8000)
    assert [s.pid for s in app] == [800, 801]


def test_a_socket_whose_process_we_may_not_see_has_no_program() -> None:
    (ssh,) = on_port(parse_ss(SS), "tcp", 22)
    assert (ssh.program, ssh.pid, ssh.holder) == ("", None, "")
    assert ssh.any_address


def test_udp_and_tcp_on_one_port_are_separate() -> None:
    found = parse_ss(SS)
    assert len(on_port(found, "udp", 3478)) == 2
    assert on_port(found, "tcp", 3478) == []


def test_proc_net_tcp_keeps_listening_sockets_only() -> None:
    assert parse_proc_net(PROC_TCP, "tcp") == [Listener("tcp", "127.0.0.1", 5672)]
    assert parse_proc_net(PROC_TCP6, "tcp") == [Listener("tcp", "::1", 6379)]


def test_proc_net_udp_keeps_unconnected_sockets_only() -> None:
    assert parse_proc_net(PROC_UDP, "udp") == [Listener("udp", "10.77.0.1", 3478)]


def test_garbage_lines_are_skipped() -> None:
    assert parse_ss("State Recv-Q\nnonsense\nudp UNCONN 0 0 nowhere 0.0.0.0:*\n") == []
    assert parse_proc_net("header\n 0: zz:zz 00:00 0A\n", "tcp") == []
