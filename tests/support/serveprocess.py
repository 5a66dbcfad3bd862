"""`diemcau serve` in a subprocess, for the browser tests and the benchmark.

Both need a real installation (embedded Janus, the HTTPS front, the web app) that they can
start, stop and kill like an operator would; this is the one place that knows how. The
front's ports come from ``DIEMCAU_HTTPS_PORT``/``DIEMCAU_HTTP_PORT`` in ``env``; requests are
checked against the installation's own local CA (``ca_file``), never unverified.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path


class ServeProcess:
    def __init__(
        self, port: int, env: dict[str, str], data_dir: Path, *, host: str = "127.0.0.1"
    ) -> None:
        self.port = port  # the app's own (loopback) port
        self.env = env
        self.data_dir = data_dir
        self.host = host  # the address browsers use (one of the front's names)
        self.https_port = int(env.get("DIEMCAU_HTTPS_PORT", "443"))
        self.http_port = int(env.get("DIEMCAU_HTTP_PORT", "80"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.argv_prefix: list[str] = []  # e.g. `ip netns exec <ns>` to run it on another host

    @property
    def url(self) -> str:
        """The HTTPS address browsers open."""
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.host}{port}"

    @property
    def http_url(self) -> str:
        port = "" if self.http_port == 80 else f":{self.http_port}"
        return f"http://{self.host}{port}"

    @property
    def ca_file(self) -> Path:
        """The local CA's root, written by Caddy on its first start."""
        return self.data_dir / "caddy" / "storage" / "pki" / "authorities" / "local" / "root.crt"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def app_url(self) -> str:
        """The app itself, on loopback (what the HTTPS front proxies to)."""
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        """Whether the front answers over HTTPS, verified against the local CA."""
        if self.env.get("DIEMCAU_FRONT") == "none":
            try:
                urllib.request.urlopen(self.app_url + "/accounts/login/", timeout=2)  # noqa: S310
            except OSError:
                return False
            return True
        if not self.ca_file.is_file():
            return False
        try:
            urllib.request.urlopen(  # noqa: S310 - our own https address
                self.url + "/accounts/login/", timeout=2, context=self.ssl_context()
            )
        except OSError:
            return False
        return True

    def start(self, timeout: float = 60.0, ready: Callable[[], bool] | None = None) -> None:
        """Start `diemcau serve` and return once ``ready()`` (default: it answers)."""
        log = (self.data_dir / "serve.log").open("a")
        self.proc = subprocess.Popen(
            [
                *self.argv_prefix,
                sys.executable,
                "-m",
                "diemcau",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        check = ready or self.answers
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "diemcau serve did not come up:\n" + (self.data_dir / "serve.log").read_text()
                )
            time.sleep(0.3)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, as a service manager does; SIGKILL if it does not stop in time."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def crash(self) -> None:
        """SIGKILL: no shutdown code runs (its Janus dies with it, by PR_SET_PDEATHSIG)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
