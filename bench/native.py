"""The native media engine: synthetic sites' WebRTC in GStreamer worker processes.

`python -m bench … --generator gst` gives each synthetic site's connections to worker
processes running bench/gst/worker.py under Debian's /usr/bin/python3 (PyGObject is
packaged for that interpreter only). This process keeps everything a page does above the
media — the control socket, Janus's WebSocket, the media policy, the measurements — and
hands the workers SDP; the workers do RTP, SRTP, DTLS and ICE in native code and report counters.

The aiortc engine (bench/sites.py `AiortcEngine`) stays the default: measured on this
2-core machine, this one costs 1.8× as much per site (webrtcbin's threads: BENCHMARKS.md,
"The load generator and 67 sites").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

from bench.media import CACHE, Encoded, Probe

log = logging.getLogger("bench")

SYSTEM_PYTHON = "/usr/bin/python3"
WORKER = Path(__file__).resolve().parent / "gst" / "worker.py"
TIMEOUT = 20.0
STATS_S = 0.5


def available() -> str | None:
    """None when the native engine can run here, else what is missing (and how to get it)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} is missing"
    probe = subprocess.run(  # noqa: S603 - a fixed interpreter and script
        [
            SYSTEM_PYTHON,
            "-c",
            "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstWebRTC', '1.0');"
            "from gi.repository import Gst; Gst.init(None);"
            "assert Gst.ElementFactory.find('webrtcbin') and Gst.ElementFactory.find('nicesrc')",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode:
        return "GStreamer's webrtcbin is not installed (make deps-bench)"
    return None


def write_frames(media: dict[str, Encoded]) -> Path:
    """The encoded loops as the worker reads them ([u32 length][frame]…, one file a layer)."""
    folder = CACHE / "frames-v1"
    if (folder / "rates.json").exists():
        return folder
    tmp = CACHE / "frames-v1.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for layer, encoded in media.items():
        with open(tmp / f"{layer}.bin", "wb") as fh:
            for frame in encoded.frames:
                fh.write(struct.pack("<I", len(frame)))
                fh.write(frame)
    (tmp / "rates.json").write_text(json.dumps({k: v.rate for k, v in media.items()}))
    tmp.rename(folder)
    return folder


class NativeProbe(Probe):
    """A Probe whose counters the worker reports (absolute since the stream's last reset)."""

    window_base: int | None = None
    window_end: int | None = None

    @property  # type: ignore[override]
    def window_bytes(self) -> int:
        if self.window_base is None:
            return 0
        return (self.window_end if self.window_end is not None else self.size) - self.window_base

    @window_bytes.setter
    def window_bytes(self, _value: int) -> None:  # Probe's dataclass __init__ sets it
        pass

    def apply(self, report: list[Any]) -> None:
        packets, size, first, last, max_gap, gaps, keyframes = report
        # identity counts whole RTP packets, the header included (as Probe.size does).
        self.packets, self.size = int(packets), int(size)
        self.first, self.last = first, last
        self.max_gap, self.gaps_over_2s = float(max_gap), int(gaps)
        self.keyframes = int(keyframes)


class Worker:
    """One worker process and its line-JSON conversation."""

    def __init__(self, index: int, frames: Path, cpus: list[int] | None) -> None:
        self.index = index
        self.frames = frames
        self.cpus = cpus
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count(1)
        self.reader: asyncio.Task[None] | None = None
        self.on_event: Any = None
        self.pcs = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        cmd = [SYSTEM_PYTHON, str(WORKER), str(self.frames)]
        if self.cpus:
            cmd = ["/usr/bin/taskset", "-c", ",".join(map(str, self.cpus)), *cmd]
        self.proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "GST_DEBUG": os.environ.get("BENCH_GST_DEBUG", "1")},
            limit=2**24,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            ready = json.loads(await self.proc.stdout.readline())
        if ready.get("ev") != "ready":
            raise RuntimeError(f"GStreamer worker {self.index} did not start: {ready}")
        self.reader = asyncio.create_task(self._read(), name=f"gst worker {self.index}")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            ident = message.get("id")
            if ident is not None and ident in self.pending:
                future = self.pending.pop(ident)
                if not future.done():
                    future.set_result(message)
            elif "ev" in message and self.on_event is not None:
                self.on_event(message)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(RuntimeError(f"GStreamer worker {self.index} exited"))

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        ident = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        self.proc.stdin.write((json.dumps({"op": op, "id": ident, **fields}) + "\n").encode())
        await self.proc.stdin.drain()
        async with asyncio.timeout(TIMEOUT):
            reply = await future
        if "error" in reply:
            raise RuntimeError(f"GStreamer worker {self.index}: {op}: {reply['error']}")
        return reply

    async def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            async with asyncio.timeout(5):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()


class NativePC:
    """What a Subscription or a publisher holds: closing it closes the worker's peer."""

    def __init__(self, engine: NativeEngine, worker: Worker, pc: str) -> None:
        self.engine, self.worker, self.pc = engine, worker, pc

    async def close(self) -> None:
        self.engine.forget(self.pc)
        with contextlib.suppress(Exception):
            await self.worker.call("close", pc=self.pc)


class NativeEngine:
    """Synthetic sites' media in `processes` GStreamer workers (a participant stays on one)."""

    name = "gst"

    def __init__(
        self, media: dict[str, Encoded], processes: int = 1, cpus: list[int] | None = None
    ) -> None:
        self.frames = write_frames(media)
        self.workers = [Worker(i, self.frames, cpus) for i in range(max(1, processes))]
        self.pc_ids = itertools.count(1)
        self.probes: dict[str, NativeProbe] = {}  # "pc/mid" -> the probe counting it now
        self.keyframes: dict[str, collections.deque[float]] = {}
        self.assigned: dict[str, Worker] = {}
        self.stats_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for worker in self.workers:
            worker.on_event = self._on_event
        await asyncio.gather(*(w.start() for w in self.workers))
        self.stats_task = asyncio.create_task(self._stats_loop(), name="gst stats")

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.pid is not None]

    def worker_for(self, owner: str) -> Worker:
        if owner not in self.assigned:
            self.assigned[owner] = min(self.workers, key=lambda w: w.pcs)
        worker = self.assigned[owner]
        worker.pcs += 1
        return worker

    # --- what sites.py asks for ---------------------------------------------------------

    async def offer(self, owner: str) -> tuple[NativePC, str]:
        worker = self.worker_for(owner)
        pc = str(next(self.pc_ids))
        reply = await worker.call("publish", pc=pc)
        return NativePC(self, worker, pc), str(reply["sdp"])

    async def accept(self, pc: NativePC, sdp: str) -> None:
        await pc.worker.call("answer", pc=pc.pc, sdp=sdp)

    async def answer(
        self, owner: str, offer: str, feed: int, streams: list[tuple[str, str, str]], created: float
    ) -> tuple[NativePC, str, dict[str, Probe]]:
        """Answer Janus's subscriber offer; streams are (our mid, kind, label)."""
        worker = self.worker_for(owner)
        pc = str(next(self.pc_ids))
        probes = self._probes(pc, feed, streams, created)
        reply = await worker.call("subscribe", pc=pc, sdp=offer)
        return NativePC(self, worker, pc), str(reply["sdp"]), probes

    async def relabel(
        self, pc: NativePC, feed: int, streams: list[tuple[str, str, str]], asked: float
    ) -> dict[str, Probe]:
        """After a VideoRoom `switch`: new probes, the worker's counters from zero."""
        probes = self._probes(pc.pc, feed, streams, asked)
        with contextlib.suppress(Exception):
            await pc.worker.call("reset", pc=pc.pc, mids=[mid for mid, _k, _l in streams])
        for mid, _kind, _label in streams:
            key = f"{pc.pc}/{mid}"
            for t in self.keyframes.get(key, ()):
                if t >= asked:
                    self._keyframe(key, t)
        return probes

    def _probes(
        self, pc: str, feed: int, streams: list[tuple[str, str, str]], created: float
    ) -> dict[str, Probe]:
        out: dict[str, Probe] = {}
        for mid, kind, label in streams:
            probe = NativeProbe(kind, f"feed {feed} {label}", created=created)
            if Probe.window_open:
                probe.window_base = 0
            self.probes[f"{pc}/{mid}"] = probe
            out[label] = probe
        return out

    def forget(self, pc: str) -> None:
        for key in [k for k in self.probes if k.split("/", 1)[0] == pc]:
            del self.probes[key]
            self.keyframes.pop(key, None)

    # --- what the workers report --------------------------------------------------------

    def _on_event(self, message: dict[str, Any]) -> None:
        if message.get("ev") == "keyframe":
            key = f"{message['pc']}/{message['mid']}"
            t = float(message["t"])
            recent = self.keyframes.setdefault(key, collections.deque(maxlen=8))
            recent.append(t)
            self._keyframe(key, t)

    def _keyframe(self, key: str, t: float) -> None:
        probe = self.probes.get(key)
        if probe is not None and probe.first_keyframe is None and t >= probe.created:
            probe.first_keyframe = t

    async def sync(self) -> None:
        """Every worker's counters, now."""
        replies = await asyncio.gather(
            *(w.call("stats") for w in self.workers), return_exceptions=True
        )
        for reply in replies:
            if isinstance(reply, BaseException):
                log.warning("gst stats: %s", reply)
                continue
            for key, report in reply["streams"].items():
                probe = self.probes.get(key)
                if probe is not None:
                    probe.apply(report)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(STATS_S)
            await self.sync()

    async def open_window(self) -> None:
        await self.sync()
        for probe in self.probes.values():
            probe.window_base = probe.size
        Probe.window_open = True

    async def close_window(self) -> None:
        await self.sync()
        Probe.window_open = False
        for probe in self.probes.values():
            if probe.window_base is not None:
                probe.window_end = probe.size

    async def stop(self) -> None:
        if self.stats_task is not None:
            self.stats_task.cancel()
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
