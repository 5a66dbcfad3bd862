"""Run a helper program (Janus, Caddy) as a child process and keep it running.

``Supervisor`` prepares (writes the program's config), starts the program, waits until
``ready()`` says it serves, and restarts it with back-off whenever it exits. Subclasses say
what to run and how to tell it is ready. The ``serve`` command awaits ``start()`` and
``stop()``; test fixtures do the same.
"""

# Start-up and stop have deadlines of their own (a program may hang), so methods take one.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class StartError(RuntimeError):
    """The program did not come up; the message names the log file to read."""


class Supervisor:
    name = "program"
    start_error: type[StartError] = StartError

    def __init__(
        self,
        *,
        start_timeout: float = 20.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        # A run this long counts as healthy: the next crash restarts without delay build-up.
        stable_after: float = 60.0,
    ) -> None:
        self.start_timeout = start_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.restarts = 0
        self.process: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._changed = asyncio.Condition()

    # --- what subclasses say ---------------------------------------------------------------

    def prepare(self) -> None:
        """Write the program's config (before the first start)."""

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    @property
    def output_log(self) -> Path:
        """Where the program's stdout and stderr go."""
        raise NotImplementedError

    @property
    def log_hint(self) -> str:
        """The files to read when it fails (named in error messages)."""
        return str(self.output_log)

    # What the last ready() was still waiting for, in words (said if it never comes).
    waiting_for = ""

    async def ready(self) -> bool:
        """Whether the started program serves yet (called until it does)."""
        raise NotImplementedError

    # --- running ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Prepare, start the program and return once it serves; then keep it alive."""
        self._stopping = False
        self.prepare()
        await self._spawn_and_wait()
        self._watcher = asyncio.create_task(self._watch(), name=f"{self.name}-supervisor")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop supervising and terminate the program (SIGTERM, then SIGKILL)."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            log.warning(
                "%s (pid %s) ignored SIGTERM for %s s; killing it", self.name, proc.pid, timeout
            )
            proc.kill()
            await proc.wait()
        log.info("%s (pid %s) stopped", self.name, proc.pid)

    async def run(self) -> None:
        """Start and supervise until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())

    async def wait_restarted(self, after_restarts: int, timeout: float = 30.0) -> None:
        """Wait until the program has been restarted more than ``after_restarts`` times."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.restarts > after_restarts)
        except TimeoutError:
            raise self.start_error(f"{self.name} not restarted within {timeout} s") from None

    async def _spawn_and_wait(self) -> None:
        self.output_log.parent.mkdir(parents=True, exist_ok=True)
        out = self.output_log.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env(),
                # Its own session: a Ctrl-C in the terminal (SIGINT to the whole foreground
                # group) reaches `serve` only, which then stops the program in order, instead
                # of the program dying first and the watcher restarting it mid-shutdown.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            out.close()
        log.info("%s started (pid %s)", self.name, self.process.pid)
        await self._wait_ready(self.process)

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.05
        while True:
            if proc.returncode is not None:
                raise self.start_error(
                    f"{self.name} exited with code {proc.returncode} while starting; "
                    f"see {self.log_hint}"
                )
            if await self.ready():
                return
            if time.monotonic() > deadline:
                proc.kill()
                await proc.wait()
                waiting = f" ({self.waiting_for})" if self.waiting_for else ""
                raise self.start_error(
                    f"{self.name} did not become ready within {self.start_timeout} s"
                    f"{waiting}; see {self.log_hint}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _watch(self) -> None:
        delay = self.backoff_initial
        while not self._stopping:
            proc = self.process
            assert proc is not None  # start() spawned it before creating this task
            started = time.monotonic()
            code = await proc.wait()
            if self._stopping:
                return
            if time.monotonic() - started > self.stable_after:
                delay = self.backoff_initial
            log.error(
                "%s (pid %s) exited with code %s; restarting in %.1f s (see %s)",
                self.name,
                proc.pid,
                code,
                delay,
                self.log_hint,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)
            try:
                await self._spawn_and_wait()
            except (StartError, OSError) as exc:
                log.error("restarting %s failed: %s", self.name, exc)
                continue
            async with self._changed:
                self.restarts += 1
                self._changed.notify_all()


async def accepts_tcp(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection at host:port now (a readiness check)."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL the child if we die, so an orphan never holds the ports.

    SIGKILL, not SIGTERM: with its parent gone nothing waits for a graceful exit, and Janus
    has been seen to hang in its SIGTERM shutdown and outlive `serve` for hours.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


__all__ = ["StartError", "Supervisor", "accepts_tcp"]
