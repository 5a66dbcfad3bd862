"""`python -m bench run|compare|sweep|delegates|weak`: see BENCHMARKS.md.

Every command starts its own `diemcau serve` (fresh data folder, free ports) per run and
stops it afterwards; results go to bench/results/<name>.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from bench import report
from bench.run import Options, run


def _options(args: argparse.Namespace, sites: int, policy: str) -> Options:
    return Options(
        sites=sites,
        duration=args.duration,
        policy=policy,
        join_window=args.join_window,
        action_interval=args.interval,
        switch=args.switch,
        generator=args.generator,
        gen_procs=args.gen_procs,
        gen_cpus=_cpus(args.gen_cpus),
        server_cpus=_cpus(args.server_cpus),
    )


def _cpus(text: str | None) -> list[int] | None:
    """ "0,1" or "2-5" (taskset's list) as CPU numbers."""
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        out.extend(range(int(first), int(last or first) + 1))
    return out


def _default_generator() -> str:
    """aiortc: measured cheaper than the GStreamer workers on this machine (BENCHMARKS.md,
    "The load generator"); `--generator gst` runs the other."""
    return "aiortc"


def _log(result: dict[str, Any]) -> None:
    brief = {k: v for k, v in result.items() if k not in ("actions", "sample_probes")}
    sys.stderr.write(json.dumps(brief, ensure_ascii=False) + "\n")
    missed = report.verdict(result)
    sys.stderr.write(
        f"== N={result['sites']} {result['policy']}: "
        f"{'holds every target' if not missed else '; '.join(missed)}\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, duration: float) -> None:
        p.add_argument("--duration", type=float, default=duration, help="steady phase, s")
        p.add_argument("--join-window", type=float, default=10.0, help="all sites join within")
        p.add_argument("--interval", type=float, default=5.0, help="s between chair actions")
        p.add_argument("--name", help="results file name (bench/results/<name>.*)")
        p.add_argument("--results", type=Path, help="folder for results (bench/results)")
        p.add_argument(
            "--switch",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="sites move subscriptions with VideoRoom `switch`, as media.js does "
            "(--no-switch: a new subscription per change, the old behaviour)",
        )
        p.add_argument(
            "--generator",
            choices=("gst", "aiortc"),
            default=None,
            help="synthetic sites' media: aiortc in this process (the default) or GStreamer "
            "webrtcbin workers (native per packet, `make deps-bench`; measured dearer here)",
        )
        p.add_argument("--gen-procs", type=int, default=None, help="GStreamer worker processes")
        p.add_argument("--gen-cpus", help="CPUs for the generator, e.g. 2-7 (taskset)")
        p.add_argument(
            "--server-cpus", help="CPUs for Janus, the app, Caddy and TURN, e.g. 0,1 (taskset)"
        )

    one = sub.add_parser("run", help="one run (N sites, one policy)")
    one.add_argument("--sites", type=int, default=10)
    one.add_argument("--policy", choices=("ours", "naive"), default="ours")
    common(one, 180.0)

    cmp_ = sub.add_parser("compare", help="ours and naive at the same N, one after the other")
    cmp_.add_argument("--sites", type=int, nargs="+", default=[5, 10])
    common(cmp_, 60.0)

    swi = sub.add_parser("switch", help="ours with and without VideoRoom `switch`, same N")
    swi.add_argument("--sites", type=int, nargs="+", default=[10, 20])
    common(swi, 60.0)

    sweep = sub.add_parser("sweep", help="N = 10, 20, 40, 67 ...; stops at the first miss")
    sweep.add_argument("--sites", type=int, nargs="+", default=[10, 20, 40, 67])
    sweep.add_argument("--naive", type=int, nargs="*", default=[5, 10], help="naive at these N")
    sweep.add_argument("--naive-duration", type=float, default=60.0, help="steady phase, s")
    sweep.add_argument("--keep-going", action="store_true", help="do not stop at a miss")
    common(sweep, 180.0)

    dele = sub.add_parser("delegates", help="control plane: many WebSocket clients")
    dele.add_argument("--clients", type=int, default=1500)
    dele.add_argument("--sites", type=int, default=67)
    dele.add_argument("--announcements", type=int, default=5)
    dele.add_argument("--name", default="delegates")
    dele.add_argument("--redis", metavar="URL", help="the Redis channel layer (REDIS_URL)")
    dele.add_argument("--results", type=Path, help="folder for results (bench/results)")

    weak = sub.add_parser("weak", help="weak and cut links in the multi-host bed (issue 12)")
    weak.add_argument("--phase", type=float, default=60.0, help="s per link phase")
    weak.add_argument("--cuts", type=float, nargs="*", default=[5.0, 15.0, 45.0], help="s")
    weak.add_argument("--trials", type=int, default=2, help="cuts of each length")
    weak.add_argument("--name", default="weak")
    weak.add_argument("--results", type=Path, help="folder for results (bench/results)")

    wall = sub.add_parser("wall", help="HQ's video wall in Chromium against N synthetic sites")
    wall.add_argument("--sites", type=int, default=67)
    wall.add_argument("--duration", type=float, default=60.0, help="s of sampling")
    wall.add_argument("--every", type=float, default=2.0, help="s between samples")
    wall.add_argument("--generator", choices=("gst", "aiortc"), default=None)
    wall.add_argument("--name", default="wall")
    wall.add_argument("--results", type=Path, help="folder for results (bench/results)")

    args = parser.parse_args(argv)
    if getattr(args, "generator", "x") is None:
        args.generator = _default_generator()
    if getattr(args, "gen_procs", 0) is None:
        # One worker per CPU the generator may use, at most 4; one on a 2-core machine.
        spare = len(_cpus(args.gen_cpus) or []) or max(1, (os.cpu_count() or 2) - 2)
        args.gen_procs = min(4, spare)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("aioice", "aiortc", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    runs: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if args.command == "wall":
        from bench.wall import WallOptions, run_wall
        from bench.wall import write as write_wall

        wall_opts = WallOptions(
            sites=args.sites,
            duration=args.duration,
            every=args.every,
            generator=args.generator,
            name=args.name,
            results=args.results,
        )
        result = run_wall(wall_opts)
        base = write_wall(result, wall_opts)
        sys.stderr.write(json.dumps({k: v for k, v in result.items() if k != "samples"}) + "\n")
        sys.stdout.write(f"wrote {base}.json, {base}.md, .png\n")
        return
    if args.command == "weak":
        from bench.weak import WeakOptions, run_weak, write

        options = WeakOptions(
            phase_s=args.phase,
            cuts=tuple(args.cuts),
            trials=args.trials,
            name=args.name,
            results=args.results,
        )
        result = run_weak(options)
        base = write(result, options)
        sys.stderr.write(json.dumps(result["phases"], indent=2) + "\n")
        sys.stderr.write(json.dumps(result["cut_summary"], indent=2) + "\n")
        sys.stdout.write(f"wrote {base}.json, {base}.md, .png\n")
        return
    if args.command == "run":
        runs.append(run(_options(args, args.sites, args.policy)))
        _log(runs[-1])
        name = args.name or f"run-{args.sites}-{args.policy}"
    elif args.command == "compare":
        for n in args.sites:
            for policy in ("ours", "naive"):
                runs.append(run(_options(args, n, policy)))
                _log(runs[-1])
        name = args.name or "compare"
    elif args.command == "switch":
        for n in args.sites:
            for switch in (False, True):
                opts = _options(args, n, "ours")
                opts.switch = switch
                runs.append(run(opts))
                _log(runs[-1])
        name = args.name or "switch"
    elif args.command == "sweep":
        largest = None
        for n in args.naive:
            for policy in ("ours", "naive"):
                opts = _options(args, n, policy)
                opts.duration = args.naive_duration
                runs.append(run(opts))
                _log(runs[-1])
        for n in args.sites:
            result = run(_options(args, n, "ours"))
            runs.append(result)
            _log(result)
            if report.verdict(result):
                if not args.keep_going:
                    break
            elif largest is None or n > largest:
                largest = n
        extra["largest_n"] = largest
        name = args.name or "sweep"
    else:
        from bench.delegates import run_delegates

        extra["delegates"] = run_delegates(
            args.clients, args.sites, args.announcements, redis_url=args.redis
        )
        sys.stderr.write(json.dumps(extra["delegates"], indent=2) + "\n")
        name = args.name
    base = report.write({"runs": runs, **extra}, name, args.results)
    sys.stdout.write(f"wrote {base}.json, {base}.md" + (", .png\n" if runs else "\n"))
