"""`diemcau serve` in a subprocess, for the browser tests and the benchmark.

Both need a real installation (embedded Janus + web app) that they can start, stop and
kill like an operator would; this is the one place that knows how.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class ServeProcess:
    def __init__(self, port: int, env: dict[str, str], data_dir: Path) -> None:
        self.port = port
        self.env = env
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start `diemcau serve` and return once the web app answers."""
        log = (self.data_dir / "serve.log").open("a")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
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
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "/accounts/login/", timeout=2)  # noqa: S310
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "diemcau serve did not come up:\n"
                        + (self.data_dir / "serve.log").read_text()
                    ) from None
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
