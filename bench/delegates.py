"""The control plane with many WebSocket clients: delegates following from their phones.

Each delegate is a `delegate`-role connection (`ws/meetings/<id>/delegate/`) made with the
session of its site's delegate link, spread evenly over the sites — what a phone opening
that link does. A delegate records no attendance and causes no broadcast when it connects.

Measured: how long the clients take to connect, the app's memory per connection, and,
once all are connected, how long an announcement takes to reach all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.run import summary
from bench.server import Installation, ProcSampler

CONNECT_CONCURRENCY = 50
CONNECT_LIMIT_S = 600.0
ANNOUNCE_WAIT_S = 60.0


class Delegate:
    def __init__(self, index: int) -> None:
        self.index = index
        self.ws: ClientConnection | None = None
        self.connected_in: float | None = None
        self.seen: dict[str, float] = {}  # announcement marker -> arrival
        self.messages = 0
        self.beats = 0  # the server's sequence heartbeats (live/seqbeat.py)
        self.task: asyncio.Task[None] | None = None

    async def connect(self, host: str, meeting: int, cookie: str) -> None:
        t0 = time.monotonic()
        self.ws = await connect(
            f"ws://{host}/ws/meetings/{meeting}/delegate/",
            origin=f"http://{host}",  # type: ignore[arg-type]
            additional_headers=[("Cookie", f"sessionid={cookie}")],
            open_timeout=60,
            max_size=None,
            max_queue=None,
        )
        first = await asyncio.wait_for(self.ws.recv(), timeout=60)
        if '"type": "snapshot"' not in str(first) and '"type":"snapshot"' not in str(first):
            raise RuntimeError(f"delegate {self.index}: expected a snapshot, got {first!r:.100}")
        self.connected_in = time.monotonic() - t0
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                self.messages += 1
                if raw.startswith('{"type": "seq"'):
                    self.beats += 1
                # Cheap: only announcements are parsed.
                if '"kind":"announcement"' in raw:
                    now = time.monotonic()
                    text = json.loads(raw)["state"]["announcement"]
                    self.seen.setdefault(str(text), now)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


async def _scenario(
    inst: Installation, clients: int, announcements: int, redis_url: str | None = None
) -> dict[str, Any]:
    from bench.sites import Participant

    pool = ThreadPoolExecutor(max_workers=16)
    loop = asyncio.get_running_loop()
    cookies = list(
        await asyncio.gather(
            *(
                loop.run_in_executor(pool, inst.open_join_link, str(s["delegate_path"]))
                for s in inst.site_list
            )
        )
    )
    chair = Participant(
        name="HQ",
        host=inst.host,
        meeting=inst.meeting,
        role="hq",
        site_id=inst.main_site,
        engine=None,  # no media: publish=False
        policy=lambda *a: {},
        publish=False,
    )
    await chair.connect_control(await loop.run_in_executor(pool, inst.log_in_chair))
    app = ProcSampler(inst.proc.pid if inst.proc else None)
    await asyncio.sleep(2)
    rss_before = app.sample()

    delegates = [Delegate(i) for i in range(clients)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    failures: list[str] = []

    async def one(d: Delegate) -> None:
        async with gate:
            try:
                await d.connect(inst.host, inst.meeting, cookies[d.index % len(cookies)])
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}"[:200])

    app.start()
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(
            asyncio.gather(*(one(d) for d in delegates)), timeout=CONNECT_LIMIT_S
        )
    except TimeoutError:
        failures.append(f"connect phase stopped after {CONNECT_LIMIT_S} s")
    connect_s = time.monotonic() - t0
    connect_cpu = app.cpu_percent()
    connected = [d for d in delegates if d.connected_in is not None]
    # Let the presence events of the last connections drain before measuring.
    quiet_since = time.monotonic()
    last = -1
    while time.monotonic() - quiet_since < 120:
        total = sum(d.messages - d.beats for d in connected)  # beats never stop
        if total == last:
            break
        last = total
        await asyncio.sleep(2)
    await asyncio.sleep(2)
    rss_after = app.sample()

    latencies: list[float] = []
    missed = 0
    app.start()
    for k in range(announcements):
        marker = f"bench announcement {k}"
        t_send = time.monotonic()
        await chair.request("announce", text=marker)
        deadline = t_send + ANNOUNCE_WAIT_S
        # Polling 1,500 readers' state: no single event to wait for.
        while time.monotonic() < deadline and not all(  # noqa: ASYNC110
            marker in d.seen for d in connected
        ):
            await asyncio.sleep(0.05)
        for d in connected:
            at = d.seen.get(marker)
            if at is None:
                missed += 1
            else:
                latencies.append(1000 * (at - t_send))
        await asyncio.sleep(1)
    announce_cpu = app.cpu_percent()

    await asyncio.gather(*(d.close() for d in delegates), return_exceptions=True)
    await chair.close()
    pool.shutdown(wait=False)
    return {
        "clients": clients,
        "sites": len(inst.site_list),
        "role": "delegate (follows and votes; no attendance, no broadcast on connect)",
        "connected": len(connected),
        "failures": len(failures),
        "failure_samples": failures[:5],
        "connect_phase_s": round(connect_s, 1),
        "connect_ms": summary([1000 * (d.connected_in or 0) for d in connected]),
        "app_cpu_pct_connecting": round(connect_cpu, 1),
        "app_rss_mb_before": round(rss_before / 2**20, 1),
        "app_rss_mb_after": round(rss_after / 2**20, 1),
        "app_kb_per_connection": round((rss_after - rss_before) / 1024 / max(len(connected), 1), 1),
        "messages_received_while_connecting": sum(d.messages for d in connected),
        "announcement_ms": summary(latencies),
        "announcement_missed": missed,
        "app_cpu_pct_announcing": round(announce_cpu, 1),
        "sequence_beats_received": sum(d.beats for d in connected),
        "channel_layer": "redis" if redis_url else "in-memory",
    }


def run_delegates(
    clients: int, sites: int, announcements: int, redis_url: str | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="diemcau-bench-") as tmp:
        inst = Installation(Path(tmp) / "delegates", sites, redis_url=redis_url)
        inst.seed()
        inst.start()
        try:
            return asyncio.run(
                asyncio.wait_for(
                    _scenario(inst, clients, announcements, redis_url),
                    timeout=CONNECT_LIMIT_S + 600,
                )
            )
        finally:
            inst.stop()
