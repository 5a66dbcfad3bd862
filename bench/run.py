"""One benchmark run: N synthetic sites and the chair's console against a fresh
`diemcau serve`, a join phase, then a steady phase in which the chair grants the floor,
switches the main source and opens roll calls while everything is measured.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import media
from bench.server import Installation, ProcSampler, udp_counters, udp_drops_by_process
from bench.sites import POLICIES, AiortcEngine, Engine, Participant, feed_of

log = logging.getLogger("bench")

GAP_SECONDS = 2.0
SWITCH_WAIT = 5.0  # how long after an action its results are collected


@dataclass
class Options:
    sites: int
    duration: float  # steady phase, seconds
    policy: str = "ours"
    join_window: float = 10.0
    action_interval: float = 5.0
    settle: float = 3.0
    data_dir: Path | None = None
    switch: bool = False  # sites move subscriptions with VideoRoom `switch` (see sites.py)
    generator: str = "aiortc"  # "gst": bench/native.py (GStreamer workers), "aiortc": in-process
    gen_procs: int = 1  # GStreamer worker processes
    gen_cpus: list[int] | None = None  # CPUs for the generator (taskset), None: any
    server_cpus: list[int] | None = None  # CPUs for the server's processes, None: any


def summary(values: list[float]) -> dict[str, Any]:
    """median, p95, max (ms when given seconds × 1000 by the caller), and how many."""
    if not values:
        return {"n": 0, "median": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
    }


async def _join_site(
    inst: Installation,
    pool: ThreadPoolExecutor,
    site: dict[str, Any],
    delay: float,
    opts: Options,
    engine: Engine,
) -> Participant:
    await asyncio.sleep(delay)
    p = Participant(
        name=str(site["code"]),
        host=inst.host,
        meeting=inst.meeting,
        role="site",
        site_id=int(site["id"]),
        engine=engine,
        policy=POLICIES[opts.policy],
        switch=opts.switch,
    )
    p.t_start = time.monotonic()
    try:
        loop = asyncio.get_running_loop()
        cookie = await loop.run_in_executor(pool, inst.open_join_link, str(site["join_path"]))
        await p.connect_control(cookie)
        await p.start_media()
    except Exception as exc:
        p.errors.append(f"join: {type(exc).__name__}: {exc}")
        log.warning("%s could not join: %s", p.name, exc)
    return p


async def _named_feed(page: Participant, site_id: int, limit: float = 15.0) -> int:
    """The site's camera feed id once the server names it (after its mute is applied)."""
    deadline = time.monotonic() + limit
    while (feed := feed_of(page.state, site_id)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"site {site_id}'s camera was never named in the state")
        await asyncio.sleep(0.05)
    return feed


async def _wait_all(
    sites: list[Participant], main_feed: int, limit: float
) -> dict[str, float | None]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if all(s.first_keyframe_of(main_feed, s.t_start) for s in sites):
            break
        await asyncio.sleep(0.2)
    return {s.name: s.first_keyframe_of(main_feed, s.t_start) for s in sites}


async def scenario(inst: Installation, opts: Options) -> dict[str, Any]:
    engine = make_engine(opts)
    await engine.start()
    try:
        return await _scenario(inst, opts, engine)
    finally:
        await engine.stop()


def make_engine(opts: Options) -> Engine:
    encoded = media.load()
    if opts.generator == "gst":
        from bench.native import NativeEngine

        return NativeEngine(encoded, processes=opts.gen_procs, cpus=opts.gen_cpus)
    return AiortcEngine(encoded)


async def _scenario(inst: Installation, opts: Options, engine: Engine) -> dict[str, Any]:
    pool = ThreadPoolExecutor(max_workers=64)
    loop = asyncio.get_running_loop()
    gen = ProcSampler(os.getpid(), engine.pids())
    app = ProcSampler(inst.proc.pid if inst.proc else None)
    janus = ProcSampler(inst.janus_pid())

    chair = Participant(
        name="HQ",
        host=inst.host,
        meeting=inst.meeting,
        role="hq",
        site_id=inst.main_site,
        engine=engine,
        policy=POLICIES[opts.policy],
    )
    cookie = await loop.run_in_executor(pool, inst.log_in_chair)
    await chair.connect_control(cookie)
    await chair.start_media()
    main_feed = await _named_feed(chair, inst.main_site)

    # --- join: all N sites within the join window --------------------------------------
    n = len(inst.site_list)
    spacing = opts.join_window / n if n else 0
    t_join = time.monotonic()
    sites = list(
        await asyncio.gather(
            *(
                _join_site(inst, pool, s, i * spacing, opts, engine)
                for i, s in enumerate(inst.site_list)
            )
        )
    )
    firsts = await _wait_all(sites, main_feed, limit=opts.join_window + 30)
    join_phase = time.monotonic() - t_join
    join_ms = [1000 * (t - s.t_start) for s in sites if (t := firsts[s.name]) is not None]
    control_ms = [1000 * (s.t_control - s.t_start) for s in sites if s.t_control]
    published_ms = [1000 * (s.t_published - s.t_start) for s in sites if s.t_published]
    join_steps: dict[str, list[float]] = {"asked": [], "negotiated": [], "first_packet": []}
    for s in sites:
        for step_name, t in (s.switch_steps(main_feed, s.t_start) or {}).items():
            join_steps[step_name].append(1000 * (t - s.t_start))

    # --- steady phase: actions, stability, cost -----------------------------------------
    await asyncio.sleep(opts.settle)
    for sampler in (gen, app, janus):
        sampler.start()
    await engine.open_window()
    udp_before = udp_counters()
    t_window = time.monotonic()
    floor_ms: list[float] = []
    main_ms: list[float] = []
    roll_ms: list[float] = []
    missed = {"floor": 0, "main_source": 0, "roll_call": 0}
    # Where a switch's time goes, per site: event on the control socket, subscription
    # asked for, negotiated with Janus (ICE + DTLS included), first video packet.
    steps: dict[str, list[float]] = {"event": [], "asked": [], "negotiated": [], "first_packet": []}
    actions: list[dict[str, Any]] = []
    site_ids = [int(s["id"]) for s in inst.site_list]
    cycle = ["roll_call", "floor", "main_source", "roll_call", "floor", "main_home"]
    floor_site: int | None = None
    main_site: int = inst.main_site
    pick = 0
    step = 0
    end = t_window + opts.duration
    planned = int(opts.duration / opts.action_interval + 1e-6) if opts.policy == "ours" else 0
    for _ in range(planned):
        kind = cycle[step % len(cycle)]
        step += 1
        t0 = time.monotonic()
        try:
            if kind == "roll_call":
                ok = await chair.request("roll_call.open")
                await asyncio.sleep(min(SWITCH_WAIT, opts.action_interval))
                for s in sites:
                    at = s.event_at("roll_call.opened", ok["seq"])
                    if at is None:
                        missed["roll_call"] += 1
                    else:
                        roll_ms.append(1000 * (at - t0))
                actions.append({"action": "roll_call.open", "t": round(t0 - t_window, 2)})
                continue
            if kind == "main_home":
                target = None
                ok = await chair.request("main_source.set", site=None)
                feed = feed_of(chair.state, inst.main_site)
                main_site = inst.main_site
                bucket = main_ms
                name = "main_source"
            else:
                # A site neither on the floor nor the main source (with 2 sites there may
                # be none: then any).
                for _ in range(n):
                    if site_ids[pick % n] not in (floor_site, main_site):
                        break
                    pick += 1
                target = site_ids[pick % n]
                pick += 1
                feed = feed_of(chair.state, target)
                if kind == "floor":
                    ok = await chair.request("floor.grant", site=target)
                    floor_site = target
                    bucket, name = floor_ms, "floor"
                else:
                    ok = await chair.request("main_source.set", site=target)
                    main_site = target
                    bucket, name = main_ms, "main_source"
            await asyncio.sleep(min(SWITCH_WAIT, opts.action_interval))
            for s in sites:
                if target is not None and s.site_id == target:
                    continue  # a site does not subscribe to itself
                at = s.first_keyframe_of(feed, t0)
                if at is None:
                    missed[name] += 1
                else:
                    bucket.append(1000 * (at - t0))
                event = s.event_at("floor.granted" if name == "floor" else "main_source", ok["seq"])
                if event is not None:
                    steps["event"].append(1000 * (event - t0))
                for step_name, t in (s.switch_steps(feed, t0) or {}).items():
                    steps[step_name].append(1000 * (t - t0))
            actions.append({"action": name, "site": target, "t": round(t0 - t_window, 2)})
        except Exception as exc:
            actions.append({"action": kind, "error": str(exc)})
        finally:
            rest = opts.action_interval - (time.monotonic() - t0)
            if rest > 0:
                await asyncio.sleep(rest)
    while time.monotonic() < end:
        app.sample()
        janus.sample()
        await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
    window = time.monotonic() - t_window
    await engine.close_window()
    for sampler in (app, janus, gen):
        sampler.sample()
    udp_after = udp_counters()
    # Whose sockets overflowed (a process that cannot read its packets fast enough).
    drops = udp_drops_by_process({"janus": janus.pid, "generator": os.getpid()})
    for i, pid in enumerate(engine.pids()):
        drops |= {f"generator-{i + 1}": udp_drops_by_process({"w": pid})["w"]}
    cost = {
        "window_s": round(window, 1),
        "janus_cpu_pct": round(janus.cpu_percent(), 1),
        "janus_rss_mb": round(janus.rss_max / 2**20, 1),
        "app_cpu_pct": round(app.cpu_percent(), 1),
        "app_rss_mb": round(app.rss_max / 2**20, 1),
        "generator_cpu_pct": round(gen.cpu_percent(), 1),
        "generator": engine.name,
        "server_cpus": opts.server_cpus,
        "generator_cpus": opts.gen_cpus,
        "generator_processes": 1 + len(engine.pids()),
        "generator_cpu_pct_per_site": round(gen.cpu_percent() / max(1, n), 2),
        "janus_cpu_pct_per_site": round(janus.cpu_percent() / max(1, n), 2),
        "udp_in_datagrams": udp_after["InDatagrams"] - udp_before["InDatagrams"],
        "udp_rcvbuf_drops": udp_after["RcvbufErrors"] - udp_before["RcvbufErrors"],
        "udp_drops_open_sockets": drops,
    }

    # --- media stability over the steady window ------------------------------------------
    now = time.monotonic()
    gap_sites: list[str] = []
    worst_gap = 0.0
    per_site_kbps: list[float] = []
    for s in sites:
        site_gap = 0.0
        # Audio of a closed microphone is dropped at the SFU on purpose (moderate): only
        # video, and audio of open microphones, count as streams that must not stop.
        heard = {feed_of(s.state, x) for x in s.state.get("mics", {}).get("open", [])}
        for sub in s.history:
            for probe in sub.probes.values():
                if probe.kind == "audio" and sub.feed not in heard:
                    continue
                if probe.first is None or (probe.closed is not None and probe.closed < t_window):
                    continue
                gap = max(probe.max_gap, probe.tail_gap(now) if probe.closed is None else 0.0)
                site_gap = max(site_gap, gap)
        worst_gap = max(worst_gap, site_gap)
        if site_gap > GAP_SECONDS:
            gap_sites.append(s.name)
        per_site_kbps.append(sum(p.window_bytes for p in s.probes()) * 8 / 1000 / window)
    hq_kbps = sum(p.window_bytes for p in chair.probes()) * 8 / 1000 / window
    egress_mbps = (sum(per_site_kbps) + hq_kbps) / 1000
    errors = {p.name: p.errors[:5] for p in [chair, *sites] if p.errors}
    sample = {
        p.name: [
            {
                "label": pr.label,
                "packets": pr.packets,
                "kB": pr.size // 1000,
                "keyframes": pr.keyframes,
                "max_gap_s": round(pr.max_gap, 2),
            }
            for pr in p.probes()
        ]
        for p in [chair, *sites[:2]]
    }

    await asyncio.gather(*(p.close() for p in [*sites, chair]), return_exceptions=True)
    pool.shutdown(wait=False)
    return {
        "sites": n,
        "policy": opts.policy + ("+switch" if opts.switch else ""),
        "duration_s": opts.duration,
        "join_window_s": opts.join_window,
        "join_phase_s": round(join_phase, 1),
        "joined": len(join_ms),
        "join_ms": summary(join_ms),
        "join_control_ms": summary(control_ms),
        "join_published_ms": summary(published_ms),
        "join_steps_ms": {k: summary(v) for k, v in join_steps.items()},
        "floor_switch_ms": summary(floor_ms),
        "main_switch_ms": summary(main_ms),
        "control_ms": summary(roll_ms),
        "switch_steps_ms": {k: summary(v) for k, v in steps.items()},
        "missed": missed,
        "actions": actions,
        "gap_sites": gap_sites,
        "worst_gap_s": round(worst_gap, 2),
        "egress_mbps": round(egress_mbps, 2),
        "site_downlink_kbps": summary(per_site_kbps),
        "hq_downlink_kbps": round(hq_kbps, 1),
        "cost": cost,
        "errors": errors,
        "sample_probes": sample,
    }


def run(opts: Options) -> dict[str, Any]:
    """Seed, start `diemcau serve`, run the scenario, stop; every step is bounded."""
    with tempfile.TemporaryDirectory(prefix="diemcau-bench-") as tmp:
        inst = Installation(Path(opts.data_dir or tmp) / f"n{opts.sites}-{opts.policy}", opts.sites)
        inst.seed()
        inst.start()
        if opts.server_cpus:
            inst.pin(opts.server_cpus)
        if opts.gen_cpus:
            # This process (the aiortc generator, and the native engine's driver); its
            # threads and workers start later and inherit it.
            os.sched_setaffinity(0, opts.gen_cpus)
        try:
            limit = opts.join_window + opts.duration + opts.settle + 240
            return asyncio.run(asyncio.wait_for(scenario(inst, opts), timeout=limit))
        finally:
            inst.stop()
