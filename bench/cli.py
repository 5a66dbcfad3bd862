"""Command line: `python -m bench run|compare|sweep|delegates|report`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bench.run import Options, run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run", help="one run against a fresh `diemcau serve`")
    one.add_argument("--sites", type=int, default=10)
    one.add_argument("--duration", type=float, default=60.0, help="steady phase, seconds")
    one.add_argument("--policy", choices=("ours", "naive"), default="ours")
    one.add_argument("--join-window", type=float, default=10.0)
    one.add_argument("--interval", type=float, default=5.0, help="seconds between chair actions")
    one.add_argument("--out", type=Path, help="write the result JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("aioice", "aiortc", "websockets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "run":
        result = run(
            Options(
                sites=args.sites,
                duration=args.duration,
                policy=args.policy,
                join_window=args.join_window,
                action_interval=args.interval,
            )
        )
        _emit(result, args.out)


def _emit(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if out:
        out.write_text(text + "\n")
    sys.stdout.write(text + "\n")
