"""Tiny TCP/UDP programs to run inside bed hosts (standard library only, so any Python
runs them by path: ``host.popen([sys.executable, str(TOOLS), "udp-echo", ...])``).

Servers print ``READY <port>`` once they listen (``wait_for_line(proc, "READY")``);
clients print one JSON line. ``udp-echo`` prints ``RECEIVED <n>`` when sent SIGTERM, so a
test can count what arrived one way even when the replies are lost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType

TOOLS = Path(__file__)
CHUNK = 65536


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def tcp_serve(bind: str, port: int, send: int | None) -> None:
    with socket.create_server((bind, port)) as server:
        _say(f"READY {server.getsockname()[1]}")
        while True:
            conn, _ = server.accept()
            # A probe that connects and hangs up at once (can_connect_tcp) must not end us.
            with conn, contextlib.suppress(OSError):
                if send is not None:
                    conn.sendall(b"x" * send)
                    continue
                received = 0
                while data := conn.recv(CHUNK):
                    received += len(data)
                conn.sendall(f"{received}\n".encode())


def tcp_client(to: str, port: int, send: int | None, timeout: float) -> None:
    started = time.monotonic()
    with socket.create_connection((to, port), timeout=timeout) as conn:
        if send is not None:
            conn.sendall(b"x" * send)
            conn.shutdown(socket.SHUT_WR)
        received = 0
        while data := conn.recv(CHUNK):
            received += len(data)
    _say(json.dumps({"received": received, "seconds": time.monotonic() - started}))


def udp_echo(bind: str, port: int) -> None:
    received = 0

    def report(signum: int, frame: FrameType | None) -> None:
        _say(f"RECEIVED {received}")
        sys.exit(0)

    signal.signal(signal.SIGTERM, report)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind, port))
        _say(f"READY {sock.getsockname()[1]}")
        while True:
            data, peer = sock.recvfrom(CHUNK)
            received += 1
            sock.sendto(data, peer)


def udp_send(to: str, port: int, count: int, interval: float, wait: float) -> None:
    replies = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for i in range(count):
            sock.sendto(f"{i}".encode(), (to, port))
            time.sleep(interval)
        sock.settimeout(0.05)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                sock.recv(CHUNK)
            except TimeoutError:
                continue
            except OSError:
                # ICMP port unreachable surfaces as ECONNREFUSED on the next call.
                continue
            replies += 1
            if replies == count:
                break
    _say(json.dumps({"sent": count, "replies": replies}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("tcp-serve")
    serve.add_argument("--bind", required=True)
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--send", type=int, help="send this many bytes to each client")
    client = commands.add_parser("tcp-client")
    client.add_argument("--to", required=True)
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--send", type=int, help="send this many bytes, then read the reply")
    client.add_argument("--timeout", type=float, default=30.0)
    echo = commands.add_parser("udp-echo")
    echo.add_argument("--bind", required=True)
    echo.add_argument("--port", type=int, default=0)
    send = commands.add_parser("udp-send")
    send.add_argument("--to", required=True)
    send.add_argument("--port", type=int, required=True)
    send.add_argument("--count", type=int, default=1)
    send.add_argument("--interval", type=float, default=0.002)
    send.add_argument("--wait", type=float, default=1.0, help="seconds to collect replies")
    args = parser.parse_args(argv)

    if args.command == "tcp-serve":
        tcp_serve(args.bind, args.port, args.send)
    elif args.command == "tcp-client":
        tcp_client(args.to, args.port, args.send, args.timeout)
    elif args.command == "udp-echo":
        udp_echo(args.bind, args.port)
    else:
        udp_send(args.to, args.port, args.count, args.interval, args.wait)


if __name__ == "__main__":
    main()
