"""`python -m bench weak`: weak and dropping links (issue 12), in the multi-host test bed.

The server in a network namespace of its own, HQ and two room PCs in theirs (tests/netbed),
each a real Chromium with a fake camera and microphone; HQ publishes its camera, which is
every site's main picture. Site S's downlink is then shaped in phases (tc tbf rate, nft
random loss; this kernel has no delay line), site U's never is:

  clean         nothing shaped
  500k          500 kbit/s + 3 % loss, the policy choosing
  250k          250 kbit/s + 3 % loss
  lifted        nothing shaped again
  500k-pinned   500 kbit/s + 3 % loss with S pinned to the high layer: what every site got
                before the layer policy (the same run's "before")
  lifted-again  nothing shaped, the pin undone

Over each phase S's main picture is sampled every 100 ms (frozen: not advancing for 300 ms
or more) with its audio concealment (`concealedSamples / totalSamplesReceived`), and the
layers the server chose for S and U are read every window. Then S's link is cut (every
frame dropped) for 5, 15 and 45 s, `--trials` times each: when its page and HQ's tile said
"connection lost", and when its picture and camera moved again after the restore.

Results: bench/results/<name>.{json,md,png}, stamped with the machine, with the CPU that
the browsers (the load generator here) and Janus used beside them. Needs root (network
namespaces) and `make deps-test` (Playwright, Debian's Chromium).
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench import report

PHASES = ("clean", "500k", "250k", "lifted", "500k-pinned", "lifted-again")
SHAPES: dict[str, tuple[int, int] | None] = {
    "clean": None,
    "500k": (500, 3),
    "250k": (250, 3),
    "lifted": None,
    "500k-pinned": (500, 3),
    "lifted-again": None,
}
WINDOW_S = 10  # one sample of S's picture and sound, then the layers are read


@dataclass
class WeakOptions:
    phase_s: float = 60.0
    cuts: tuple[float, ...] = (5.0, 15.0, 45.0)
    trials: int = 2
    name: str = "weak"
    results: Path | None = None


def _clock_ticks() -> dict[str, float]:
    """CPU seconds used so far by Janus and by Chromium (all its processes)."""
    import os

    hz = os.sysconf("SC_CLK_TCK")
    used = {"janus": 0.0, "chromium": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        who = "janus" if comm == "janus" else "chromium" if "chrom" in comm else None
        if who:
            used[who] += (int(fields[11]) + int(fields[12])) / hz
    return used


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


def run_weak(options: WeakOptions) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import log_in
    from tests.e2e.test_live_meeting import state, wait_until
    from tests.e2e.test_multihost import (
        SAMPLE_FRAMES,
        cut_once,
        frozen_share,
        launch,
        longest_freeze_ms,
        new_page,
        serving,
    )
    from tests.netbed import NetBed, netbed_available

    problem = netbed_available()
    if problem:
        raise SystemExit(f"bench weak needs the multi-host test bed: {problem}")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-weak-"))
    # The bed's meeting names its sites A, B, …: S is "A", U is "B".
    shaped, steady = "A", "B"
    timeline: list[dict[str, Any]] = []
    phases: list[dict[str, Any]] = []
    cuts: list[dict[str, Any]] = []
    with (
        sync_playwright() as playwright,
        NetBed(["HQ", shaped, steady]) as net,
        serving(net, data_dir) as bed,
    ):
        hq = new_page(launch(bed, playwright, "HQ"))
        log_in(hq, bed.url, "chutri", bed.passwords["chutri"])
        hq.goto(f"{bed.url}/live/{bed.meeting}/console/")
        hq.locator("#start-form button").click()
        hq.wait_for_selector("#meeting-status.live")
        bed.pages["HQ"] = hq
        for name in (shaped, steady):
            page = new_page(launch(bed, playwright, name))
            page.goto(bed.url + bed.links[name])
            bed.pages[name] = page
        for name in (shaped, steady):
            bed.pages[name].wait_for_selector("#media-status.good", timeout=60000)
        s_page, site_s, site_u = bed.pages[shaped], str(bed.sites[shaped]), str(bed.sites[steady])
        host = net.sites[shaped]

        def layer(site: str) -> str:
            entry = (state(hq).get("links") or {}).get(site)
            return "high" if not entry else str(entry.get("layer"))

        def pin(layer_name: str | None) -> None:
            hq.evaluate(
                "([site, layer]) => window.diemcau.control.send('link.pin', {site, layer})",
                [int(site_s), layer_name],
            )

        # HQ's camera is the main source (the main site's, by default) on S and U.
        def shows_main(name: str) -> bool:
            width = bed.pages[name].evaluate("document.querySelector('#main-video')?.videoWidth")
            return bool(width)

        for name in (shaped, steady):
            wait_until(partial(shows_main, name), timeout=60, what=f"the main picture at {name}")
        started = time.monotonic()
        cpu_before = _clock_ticks()
        for phase in PHASES:
            shape = SHAPES[phase]
            host.restore()
            pin("high" if phase == "500k-pinned" else None)
            if shape is not None:
                host.limit_rate(shape[0], direction="ingress")
                host.drop_random(shape[1], direction="ingress")
            frames: list[int] = []
            concealed = samples = 0.0
            longest = 0
            sound_only = 0.0
            layers_s: dict[str, float] = {}
            phase_start = time.monotonic()
            while time.monotonic() - phase_start < options.phase_s:
                sample = s_page.evaluate(SAMPLE_FRAMES, ["#main-video", WINDOW_S])
                window_frozen = frozen_share(sample["frames"])
                window_concealed = sample["concealed"] / max(1, sample["samples"])
                now_s, now_u = layer(site_s), layer(site_u)
                layers_s[now_s] = layers_s.get(now_s, 0.0) + WINDOW_S
                timeline.append(
                    {
                        "t": round(time.monotonic() - started, 1),
                        "phase": phase,
                        "frozen": round(window_frozen, 4),
                        "concealed": round(window_concealed, 4),
                        "layer_s": now_s,
                        "layer_u": now_u,
                    }
                )
                if time.monotonic() - phase_start > WINDOW_S + 5:
                    # The phase's first window is the step (the issue counts after 10 s).
                    concealed += sample["concealed"]
                    samples += sample["samples"]
                    if now_s == "audio":
                        # Sound only: the picture is paused on purpose, not frozen.
                        sound_only += WINDOW_S
                    else:
                        frames += sample["frames"]
                        longest = max(longest, longest_freeze_ms(sample["frames"]))
            phases.append(
                {
                    "phase": phase,
                    "shape": {"kbit": shape[0], "loss_pct": shape[1]} if shape else None,
                    "seconds": round(time.monotonic() - phase_start, 1),
                    # Of the windows with a picture (None: all on sound only).
                    "frozen_pct": round(100 * frozen_share(frames), 2) if frames else None,
                    "sound_only_s": sound_only,
                    "longest_freeze_ms": longest,
                    "concealed_pct": round(100 * concealed / max(1.0, samples), 2),
                    "layers_s": layers_s,
                    "layer_u_end": layer(site_u),
                }
            )
        host.restore()
        pin(None)
        cpu_after = _clock_ticks()
        elapsed = time.monotonic() - started
        for _trial in range(options.trials):
            for seconds in options.cuts:
                cuts.append(cut_once(bed, shaped, None, seconds).as_dict())
    cost = {who: round(100 * (cpu_after[who] - cpu_before[who]) / elapsed, 1) for who in cpu_after}
    by_length = {}
    for seconds in options.cuts:
        mine = [c for c in cuts if c["cut_s"] == seconds]
        by_length[str(int(seconds))] = {
            "trials": len(mine),
            "lost_at_site_s": _percentiles([c["lost_at_site"] for c in mine]),
            "lost_at_hq_s": _percentiles([c["lost_at_hq"] for c in mine]),
            "media_back_s": _percentiles([max(c["picture_back"], c["camera_back"]) for c in mine]),
        }
    return {
        "phases": phases,
        "timeline": timeline,
        "cuts": cuts,
        "cut_summary": by_length,
        "cost": {f"{who}_cpu_pct": pct for who, pct in cost.items()},
        "options": {"phase_s": options.phase_s, "trials": options.trials},
    }


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        f"# Weak links — {doc['name']}",
        "",
        f"{m['cores']} cores / {m['memory_gb']} GB ({m['cpu']}), {m['versions']['janus']}, "
        f"commit {m['commit']}, {m['when']}. Chromium (4 browsers, the load here) used "
        f"{doc['cost']['chromium_cpu_pct']} % of one core, Janus {doc['cost']['janus_cpu_pct']} %.",
        "",
        "Frozen: the share of 100 ms samples at which S's main picture had not advanced for "
        "300 ms, over the windows S had a picture (after each phase's first 15 s); sound only "
        "is the time S was on sound only, its last picture kept on purpose.",
        "",
        "| phase | link of S | S frozen | longest freeze | sound only | S audio concealed "
        "| S's layers (s) | U's layer |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for p in doc["phases"]:
        link = p["shape"]
        shape = f"{link['kbit']} kbit/s, {link['loss_pct']} % loss" if link else "—"
        layers = ", ".join(f"{k} {v:.0f}" for k, v in p["layers_s"].items())
        frozen = "—" if p["frozen_pct"] is None else f"{p['frozen_pct']} %"
        lines.append(
            f"| {p['phase']} | {shape} | {frozen} | {p['longest_freeze_ms']} ms "
            f"| {p['sound_only_s']:.0f} s | {p['concealed_pct']} % | {layers} "
            f"| {p['layer_u_end']} |"
        )
    lines += [
        "",
        "| cut | trials | lost at S (median / p95) | lost at HQ (median / p95) "
        "| media back (median / p95) |",
        "| ---: | ---: | --- | --- | --- |",
    ]
    for length, c in doc["cut_summary"].items():
        lines.append(
            f"| {length} s | {c['trials']} | {c['lost_at_site_s']['median']} / "
            f"{c['lost_at_site_s']['p95']} s | {c['lost_at_hq_s']['median']} / "
            f"{c['lost_at_hq_s']['p95']} s | {c['media_back_s']['median']} / "
            f"{c['media_back_s']['p95']} s |"
        )
    return "\n".join(lines) + "\n"


def chart(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from diemcau.live.linkpolicy import LADDER

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True)
    t = [w["t"] for w in doc["timeline"]]
    # On sound only the picture is paused on purpose: no "frozen" point, the time shaded.
    frozen = [math.nan if w["layer_s"] == "audio" else 100 * w["frozen"] for w in doc["timeline"]]
    ax1.plot(t, frozen, "o-", label="S frozen % (windows with a picture)")
    for w in doc["timeline"]:
        if w["layer_s"] == "audio":
            ax1.axvspan(w["t"] - WINDOW_S, w["t"], color="tab:orange", alpha=0.12, lw=0)
    ax1.plot(t, [100 * w["concealed"] for w in doc["timeline"]], "s--", label="S audio concealed %")
    ax1.set(ylabel="% of each 10 s window (shaded: sound only)")
    rank = {name: len(LADDER) - 1 - i for i, name in enumerate(LADDER)}
    ax2.step(t, [rank.get(w["layer_s"], 0) for w in doc["timeline"]], where="post", label="S")
    ax2.step(t, [rank.get(w["layer_u"], 0) for w in doc["timeline"]], where="post", label="U")
    ax2.set_yticks(range(len(LADDER)), list(reversed(LADDER)))
    ax2.set(xlabel="seconds", ylabel="layer the server chose")
    edges: dict[str, float] = {}
    for w in doc["timeline"]:
        edges.setdefault(w["phase"], w["t"] - WINDOW_S)
    for ax in (ax1, ax2):
        for phase, start in edges.items():
            ax.axvline(start, color="grey", lw=0.6, ls=":")
            if ax is ax1:
                ax.text(start + 1, ax1.get_ylim()[1] * 0.9, phase, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    m = doc["machine"]
    fig.suptitle(
        f"Weak links: Điểm Cầu on {m['cores']} cores ({m['cpu']}), {m['versions']['janus']}, "
        f"commit {m['commit']}, {m['when']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(result: dict[str, Any], options: WeakOptions) -> Path:
    folder = options.results or report.RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"name": options.name, "machine": report.machine(), **result}
    base = folder / options.name
    base.with_suffix(".json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    base.with_suffix(".md").write_text(markdown(doc))
    chart(doc, base.with_suffix(".png"))
    return base
