"""A short run of the benchmark (bench/, BENCHMARKS.md): a few synthetic sites against a real
`diemcau serve` with its embedded Janus, a few seconds, to keep the pipeline honest.

It runs in a subprocess (the aiortc generator patches aiortc for its own process); once
more with the GStreamer webrtcbin workers (bench/native.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.janus


def _run(tmp_path_factory: pytest.TempPathFactory, generator: str) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    # roll call, floor grant, main-source switch: three actions 3 s apart.
    subprocess.run(
        [sys.executable, "-m", "bench", "run", "--sites", "3", "--duration", "9",
         "--join-window", "2", "--interval", "3", "--name", "smoke", "--results", str(out),
         "--generator", generator],
        cwd=ROOT, env=env, check=True, timeout=150, capture_output=True,
    )  # fmt: skip
    doc: dict[str, Any] = json.loads((out / "smoke.json").read_text())
    assert (out / "smoke.md").exists() and (out / "smoke.png").stat().st_size > 0
    [run] = doc["runs"]
    assert run["cost"]["generator"] == generator
    return run


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run(tmp_path_factory, "aiortc")


def test_the_native_generator_joins_every_site_and_counts_their_media(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """bench/native.py: the same run through GStreamer webrtcbin workers (not the default:
    dearer here, BENCHMARKS.md). Switch times are not asserted: it relies on Janus's own
    keyframe requests, and one lost keyframe misses a switch's 5 s window."""
    run = _run(tmp_path_factory, "gst")
    assert run["joined"] == 3, run["errors"]
    assert run["join_ms"]["n"] == 3 and run["join_ms"]["max"] < 15_000
    assert run["gap_sites"] == []
    # Counted from the workers' own counters: the main source's high layer, and the floor.
    assert 500 < run["site_downlink_kbps"]["median"] < 4000
    assert run["cost"]["generator_processes"] == 2 and run["cost"]["generator_cpu_pct"] > 0


def test_every_synthetic_site_joins_and_receives_the_main_source(result: dict[str, Any]) -> None:
    assert result["joined"] == 3, result["errors"]
    join = result["join_ms"]
    assert join["n"] == 3 and 0 < join["median"] <= join["p95"] <= join["max"] < 15_000


def test_floor_and_main_source_switches_and_roll_call_are_measured_at_every_site(
    result: dict[str, Any],
) -> None:
    # Floor and main source go to a branch site: the other two sites switch to it.
    assert result["floor_switch_ms"]["n"] == 2 and 0 < result["floor_switch_ms"]["max"] < 5000
    assert result["main_switch_ms"]["n"] == 2 and 0 < result["main_switch_ms"]["max"] < 5000
    assert result["control_ms"]["n"] == 3 and 0 < result["control_ms"]["max"] < 5000
    assert result["missed"] == {"floor": 0, "main_source": 0, "roll_call": 0}


def test_media_flows_without_gaps_at_the_bitrates_of_the_policy(result: dict[str, Any]) -> None:
    assert result["gap_sites"] == []
    # A site receives the main source's high layer (~1.2 Mbps) and more while a floor is
    # granted; HQ receives three low layers (~150 kbps) and a high one for the floor.
    assert 900 < result["site_downlink_kbps"]["median"] < 4000
    assert 300 < result["hq_downlink_kbps"] < 4000
    assert result["egress_mbps"] > 3
    cost = result["cost"]
    assert cost["janus_cpu_pct"] > 0 and cost["janus_rss_mb"] > 0 and cost["app_rss_mb"] > 0
