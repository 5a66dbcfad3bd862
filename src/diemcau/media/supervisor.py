"""Run Janus as a child process and keep it running.

Docs: docs/janus.md. ``JanusSupervisor`` renders the config folder, starts ``janus``, waits
until it answers an ``info`` request on its WebSocket, and restarts it with backoff
whenever it exits. The ``serve`` command awaits ``run()``; test fixtures call ``start()``
and ``stop()``.
"""

# Start-up and stop have deadlines of their own (Janus may hang), so methods take one.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
import time

from . import janusconfig
from .client import probe_info
from .errors import JanusConnectionError, JanusTimeout
from .janusconfig import JanusConfig

log = logging.getLogger(__name__)

JANUS_BINARY = "/usr/bin/janus"
_PR_SET_PDEATHSIG = 1


class JanusStartError(RuntimeError):
    """Janus did not come up; the message names the log file to read."""


class JanusSupervisor:
    def __init__(
        self,
        config: JanusConfig,
        *,
        janus_binary: str = JANUS_BINARY,
        start_timeout: float = 20.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        # A run this long counts as healthy: the next crash restarts without delay build-up.
        stable_after: float = 60.0,
    ) -> None:
        self.config = config
        self.janus_binary = janus_binary
        self.start_timeout = start_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.restarts = 0
        self.process: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        return self.config.ws_url

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Write the config, start Janus and return once it answers; then keep it alive."""
        self._stopping = False
        janusconfig.write(self.config)
        await self._spawn_and_wait()
        self._watcher = asyncio.create_task(self._watch(), name="janus-supervisor")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop supervising and terminate Janus (SIGTERM, then SIGKILL after ``timeout``)."""
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
            log.warning("Janus (pid %s) ignored SIGTERM for %s s; killing it", proc.pid, timeout)
            proc.kill()
            await proc.wait()
        log.info("Janus (pid %s) stopped", proc.pid)

    async def run(self) -> None:
        """Start and supervise until cancelled (the ``serve`` command's main loop)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.stop())

    async def wait_restarted(self, after_restarts: int, timeout: float = 30.0) -> None:
        """Wait until Janus has been restarted more than ``after_restarts`` times and answers."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: self.restarts > after_restarts)
        except TimeoutError:
            raise JanusTimeout(f"Janus not restarted within {timeout} s") from None

    async def _spawn_and_wait(self) -> None:
        folder = self.config.folder
        out = (folder / "janus.stdout.log").open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *janusconfig.command(self.config, self.janus_binary),
                stdin=asyncio.subprocess.DEVNULL,
                # Log lines go to janus.log; this catches what Janus prints before that opens.
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        finally:
            out.close()
        log.info("Janus started (pid %s) with config %s", self.process.pid, folder)
        await self._wait_ready(self.process)

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.05
        while True:
            if proc.returncode is not None:
                raise JanusStartError(
                    f"Janus exited with code {proc.returncode} while starting; "
                    f"see {self.config.log_file} and {self.config.folder / 'janus.stdout.log'}"
                )
            try:
                await probe_info(self.url, timeout=1.0)
                return
            except (JanusConnectionError, JanusTimeout):
                pass
            if time.monotonic() > deadline:
                proc.kill()
                await proc.wait()
                raise JanusStartError(
                    f"Janus did not answer on {self.url} within {self.start_timeout} s; "
                    f"see {self.config.log_file}"
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
                "Janus (pid %s) exited with code %s; restarting in %.1f s (see %s)",
                proc.pid,
                code,
                delay,
                self.config.log_file,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)
            try:
                await self._spawn_and_wait()
            except (JanusStartError, OSError) as exc:
                log.error("restarting Janus failed: %s", exc)
                continue
            async with self._changed:
                self.restarts += 1
                self._changed.notify_all()


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM Janus if we die, so an orphan never holds the ports."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


__all__ = ["JanusStartError", "JanusSupervisor"]
