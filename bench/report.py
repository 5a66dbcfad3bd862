"""Results: the machine stamp, targets, and the JSON + Markdown + PNG written to
bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# From issue 4: the largest N is the largest run meeting all of these.
TARGETS = {
    "join_p95_ms": 1500.0,
    "floor_switch_p95_ms": 300.0,
    "control_p95_ms": 100.0,
    "gap_sites": 0,
}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    try:
        janus = subprocess.run(
            ["/usr/bin/janus", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        janus = "unknown"
    versions = {"python": platform.python_version(), "janus": janus}
    for package in ("django", "channels", "uvicorn", "aiortc", "av", "websockets"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "missing"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "versions": versions,
        "commit": commit,
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def verdict(run: dict[str, Any]) -> list[str]:
    """The targets this run misses (empty: it holds)."""
    missed = []
    if run["joined"] < run["sites"]:
        missed.append(f"only {run['joined']}/{run['sites']} sites joined")
    p95 = run["join_ms"]["p95"]
    if p95 is None or p95 > TARGETS["join_p95_ms"]:
        missed.append(f"join p95 {p95} ms > {TARGETS['join_p95_ms']:.0f}")
    p95 = run["floor_switch_ms"]["p95"]
    if run["policy"].startswith("ours") and (p95 is None or p95 > TARGETS["floor_switch_p95_ms"]):
        missed.append(f"floor switch p95 {p95} ms > {TARGETS['floor_switch_p95_ms']:.0f}")
    p95 = run["control_ms"]["p95"]
    if run["policy"].startswith("ours") and (p95 is None or p95 > TARGETS["control_p95_ms"]):
        missed.append(f"control p95 {p95} ms > {TARGETS['control_p95_ms']:.0f}")
    if run["gap_sites"]:
        missed.append(f"{len(run['gap_sites'])} sites with a media gap > 2 s")
    if any(v for v in run["missed"].values()):
        missed.append(f"missed: {run['missed']}")
    return missed


def _ms(s: dict[str, Any]) -> str:
    if not s or s.get("median") is None:
        return "–"
    return f"{s['median']:.0f} / {s['p95']:.0f} / {s['max']:.0f}"


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        f"# Benchmark results ({doc['name']})",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['cpu']}, kernel {m['kernel']}; "
        f"{m['versions']['janus']}; Python {m['versions']['python']}, Django "
        f"{m['versions']['django']}, Channels {m['versions']['channels']}, aiortc "
        f"{m['versions']['aiortc']}; commit {m['commit']}; {m['when']}.",
        "",
        "Times in ms as median / p95 / max over all sites and actions. CPU in % of one core "
        "(the machine has "
        f"{m['cores']}), averaged over the steady window; memory is peak RSS.",
        "",
        "| N | policy | joined | join | floor switch | main switch | control | gap sites "
        "| egress Mbps | site ↓ kbps (median) | HQ ↓ kbps | Janus CPU % | Janus MB "
        "| app CPU % | app MB | generator CPU % | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        c = r["cost"]
        v = verdict(r)
        lines.append(
            f"| {r['sites']} | {r['policy']} | {r['joined']} | {_ms(r['join_ms'])} "
            f"| {_ms(r['floor_switch_ms'])} | {_ms(r['main_switch_ms'])} | {_ms(r['control_ms'])} "
            f"| {len(r['gap_sites'])} (worst {r['worst_gap_s']} s) | {r['egress_mbps']} "
            f"| {r['site_downlink_kbps']['median']} | {r['hq_downlink_kbps']} "
            f"| {c['janus_cpu_pct']} | {c['janus_rss_mb']} | {c['app_cpu_pct']} "
            f"| {c['app_rss_mb']} | {c['generator_cpu_pct']} "
            f"| {'holds' if not v else '; '.join(v)} |"
        )
    for title, ratios in (("Ours over naive, same N", doc.get("ratios", [])),):
        if ratios:
            lines += ["", f"## {title}", "", "| N | egress | Janus CPU | site downlink |"]
            lines.append("|---|---|---|---|")
            for q in ratios:
                lines.append(
                    f"| {q['sites']} | {q['egress']} | {q['janus_cpu']} | {q['site_downlink']} |"
                )
    if doc.get("delegates"):
        d = doc["delegates"]
        lines += [
            "",
            "## Control plane: delegates",
            "",
            "```",
            json.dumps(d, indent=2, ensure_ascii=False),
            "```",
        ]
    if doc.get("largest_n") is not None:
        lines += ["", f"Largest N holding every target: **{doc['largest_n']}**."]
    return "\n".join(lines) + "\n"


def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for naive in [r for r in runs if r["policy"] == "naive"]:
        ours = next(
            (r for r in runs if r["policy"] == "ours" and r["sites"] == naive["sites"]), None
        )
        if ours is None:
            continue

        def ratio(a: float | None, b: float | None) -> float | None:
            return round(a / b, 3) if a is not None and b else None

        out.append(
            {
                "sites": naive["sites"],
                "egress": ratio(ours["egress_mbps"], naive["egress_mbps"]),
                "janus_cpu": ratio(ours["cost"]["janus_cpu_pct"], naive["cost"]["janus_cpu_pct"]),
                "site_downlink": ratio(
                    ours["site_downlink_kbps"]["median"], naive["site_downlink_kbps"]["median"]
                ),
            }
        )
    return out


def chart(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for policy, marker in (("ours", "o-"), ("naive", "s--"), ("ours+switch", "^:")):
        runs = sorted((r for r in doc["runs"] if r["policy"] == policy), key=lambda r: r["sites"])
        if not runs:
            continue
        n = [r["sites"] for r in runs]
        axes[0].plot(
            n, [r["cost"]["janus_cpu_pct"] for r in runs], marker, label=f"Janus ({policy})"
        )
        axes[0].plot(n, [r["cost"]["app_cpu_pct"] for r in runs], marker, label=f"app ({policy})")
        axes[0].plot(
            n, [r["cost"]["generator_cpu_pct"] for r in runs], marker, label=f"generator ({policy})"
        )
        axes[1].plot(n, [r["egress_mbps"] for r in runs], marker, label=policy)
        if policy.startswith("ours"):
            for key, label in (
                ("floor_switch_ms", "floor switch p95"),
                ("main_switch_ms", "main switch p95"),
                ("join_ms", "join p95"),
                ("control_ms", "control p95"),
            ):
                axes[2].plot(n, [r[key]["p95"] for r in runs], marker, label=f"{label} ({policy})")
    axes[0].set(title="CPU (% of one core)", xlabel="sites (N)")
    axes[1].set(title="Janus egress (Mbps)", xlabel="sites (N)")
    axes[2].set(title="Latency p95 (ms)", xlabel="sites (N)", yscale="log")
    axes[2].axhline(300, color="grey", lw=0.8, ls=":")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    m = doc["machine"]
    fig.suptitle(
        f"Điểm Cầu on {m['cores']} cores / {m['memory_gb']} GB ({m['cpu']}), "
        f"{m['versions']['janus']}, commit {m['commit']}, {m['when']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(doc: dict[str, Any], name: str, folder: Path | None = None) -> Path:
    """<folder>/<name>.json, .md and .png (folder: bench/results)."""
    folder = folder or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"name": name, "machine": machine(), **doc}
    doc["ratios"] = ratios(doc["runs"])
    base = folder / name
    base.with_suffix(".json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    base.with_suffix(".md").write_text(markdown(doc))
    if doc["runs"]:
        chart(doc, base.with_suffix(".png"))
    return base
