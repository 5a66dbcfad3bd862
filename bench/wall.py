"""`python -m bench wall`: HQ's video wall in a real Chromium against N synthetic sites.

A fresh `diemcau serve`, N synthetic sites (the native generator by default) joined as in
`bench run`, and the chair's console in Debian's Chromium (fake camera: HQ publishes the
main source, as in a meeting) at 1920×1080. Every `--every` seconds each tile's decoded
frame count is read (`getVideoPlaybackQuality`); a tile is live in a sample when its count
advanced since the one before. Reported: live tiles per sample, tiles never live, whether
every tile fits the screen without scrolling and which grid was chosen, and Chromium's CPU
(all its processes, % of one core) and memory beside Janus's and the generator's.
Results: bench/results/<name>.{json,md,png} (the PNG: a screenshot of the wall).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.run import Options, _join_site, make_engine
from bench.server import PASSWORD, Installation, ProcSampler

VIEWPORT = {"width": 1920, "height": 1080}

# Per tile: site id, decoded frames, the tile's box against the viewport.
READ_TILES = """() => [...document.querySelectorAll('#wall .tile')].map((t) => {
  const v = t.querySelector('video');
  const r = t.getBoundingClientRect();
  return {site: Number(t.dataset.site), frames: v && v.getVideoPlaybackQuality
    ? v.getVideoPlaybackQuality().totalVideoFrames : 0,
    bottom: r.bottom, right: r.right, width: r.width};
})"""


@dataclass
class WallOptions:
    sites: int = 67
    duration: float = 60.0
    every: float = 2.0
    generator: str = "gst"
    name: str = "wall"
    results: Path | None = None


class Chromium:
    """The chair's console in a Chromium of its own (Playwright's sync API in a thread)."""

    def __init__(self, url: str, meeting: int, home: Path) -> None:
        self.url, self.meeting, self.home = url, meeting, home
        self.ready = threading.Event()

    def run(
        self, duration: float, every: float, out: dict[str, Any], stop: threading.Event
    ) -> None:
        from playwright.sync_api import sync_playwright

        from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, log_in

        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                env={**os.environ, "HOME": str(self.home)},
            )
            page = browser.new_context(viewport=VIEWPORT, locale="vi-VN").new_page()
            log_in(page, self.url, "bench-chair", PASSWORD)
            page.goto(f"{self.url}/live/{self.meeting}/console/")
            page.wait_for_selector("#wall .tile", timeout=30000)
            self.ready.set()
            samples: list[dict[str, Any]] = []
            before: dict[int, int] = {}
            ever: set[int] = set()
            end = time.monotonic() + duration
            while time.monotonic() < end and not stop.is_set():
                page.wait_for_timeout(every * 1000)
                tiles = page.evaluate(READ_TILES)
                live = [t["site"] for t in tiles if t["frames"] > before.get(t["site"], 0)]
                ever.update(live)
                before = {t["site"]: t["frames"] for t in tiles}
                samples.append(
                    {
                        "t": round(time.monotonic() - end + duration, 1),
                        "tiles": len(tiles),
                        "live": len(live),
                    }
                )
            tiles = page.evaluate(READ_TILES)
            out["samples"] = samples
            out["tiles"] = len(tiles)
            out["never_live"] = sorted({t["site"] for t in tiles} - ever)
            out["fits_screen"] = all(
                t["bottom"] <= VIEWPORT["height"] and t["right"] <= VIEWPORT["width"] for t in tiles
            )
            out["lowest_tile_px"] = round(max((t["bottom"] for t in tiles), default=0))
            out["tile_width_px"] = (
                round(statistics.median(t["width"] for t in tiles)) if tiles else 0
            )
            out["density"] = page.evaluate("document.querySelector('#wall').dataset.density")
            out["screenshot"] = page.screenshot(full_page=False)
            browser.close()


def _chromium_usage(since: dict[int, float]) -> tuple[float, float]:
    """CPU seconds used by Chromium's processes since `since` (pid -> cpu s), and RSS MB."""
    cpu, rss = 0.0, 0.0
    for proc in psutil.process_iter(["name"]):
        if "chrom" not in (proc.info["name"] or ""):
            continue
        try:
            times = proc.cpu_times()
            cpu += times.user + times.system - since.get(proc.pid, 0.0)
            rss += proc.memory_info().rss
        except psutil.Error:
            continue
    return cpu, rss / 2**20


def _chromium_marks() -> dict[int, float]:
    marks = {}
    for proc in psutil.process_iter(["name"]):
        if "chrom" in (proc.info["name"] or ""):
            try:
                t = proc.cpu_times()
                marks[proc.pid] = t.user + t.system
            except psutil.Error:
                continue
    return marks


async def _scenario(inst: Installation, opts: WallOptions, home: Path) -> dict[str, Any]:
    run_opts = Options(
        sites=opts.sites, duration=opts.duration, generator=opts.generator, switch=True
    )
    engine = make_engine(run_opts)
    await engine.start()
    pool = ThreadPoolExecutor(max_workers=64)
    try:
        n = len(inst.site_list)
        spacing = 10.0 / n if n else 0
        sites = await asyncio.gather(
            *(
                _join_site(inst, pool, s, i * spacing, run_opts, engine)
                for i, s in enumerate(inst.site_list)
            )
        )
        joined = sum(1 for s in sites if s.t_published)
        await asyncio.sleep(5)
        chromium = Chromium(f"http://{inst.host}", inst.meeting, home)
        out: dict[str, Any] = {}
        stop = threading.Event()
        thread = threading.Thread(target=chromium.run, args=(opts.duration, opts.every, out, stop))
        thread.start()
        while not chromium.ready.is_set() and thread.is_alive():  # noqa: ASYNC110 - a thread's
            await asyncio.sleep(0.5)
        await asyncio.sleep(10)  # the wall's subscriptions settle
        gen = ProcSampler(os.getpid(), engine.pids())
        janus = ProcSampler(inst.janus_pid())
        gen.start()
        janus.start()
        marks = _chromium_marks()
        t0 = time.monotonic()
        rss_max = 0.0
        while thread.is_alive():
            await asyncio.sleep(1)
            rss_max = max(rss_max, _chromium_usage(marks)[1])
            janus.sample()
        window = time.monotonic() - t0
        chromium_cpu, _ = _chromium_usage(marks)
        live = [s["live"] for s in out.get("samples", [])[5:]] or [0]
        result = {
            "sites": n,
            "joined": joined,
            "generator": engine.name,
            "tiles": out.get("tiles"),
            "live_tiles": {"min": min(live), "median": statistics.median(live), "max": max(live)},
            "never_live": out.get("never_live"),
            "fits_screen": out.get("fits_screen"),
            "density": out.get("density"),
            "lowest_tile_px": out.get("lowest_tile_px"),
            "tile_width_px": out.get("tile_width_px"),
            "samples": out.get("samples"),
            "cost": {
                "window_s": round(window, 1),
                "chromium_cpu_pct": round(100 * chromium_cpu / max(window, 1e-6), 1),
                "chromium_rss_mb": round(rss_max, 1),
                "janus_cpu_pct": round(janus.cpu_percent(), 1),
                "generator_cpu_pct": round(gen.cpu_percent(), 1),
            },
        }
        result["_screenshot"] = out.get("screenshot")
        await asyncio.gather(*(s.close() for s in sites), return_exceptions=True)
        return result
    finally:
        pool.shutdown(wait=False)
        await engine.stop()


def run_wall(opts: WallOptions) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="diemcau-bench-wall-") as tmp:
        inst = Installation(Path(tmp) / f"wall-{opts.sites}", opts.sites)
        inst.seed()
        inst.start()
        home = Path(tmp) / "chromium-home"
        home.mkdir()
        try:
            return asyncio.run(asyncio.wait_for(_scenario(inst, opts, home), opts.duration + 300))
        finally:
            inst.stop()


def markdown(doc: dict[str, Any]) -> str:
    r, m, c = doc["result"], doc["machine"], doc["result"]["cost"]
    live = r["live_tiles"]
    cells = [
        f"{r['joined']} / {r['sites']}",
        str(r["tiles"]),
        f"{live['min']} / {live['median']} / {live['max']}",
        str(len(r["never_live"] or [])),
        f"{r['density']} ({r['tile_width_px']} px)",
        f"{'yes' if r['fits_screen'] else 'no'} (lowest tile ends at {r['lowest_tile_px']} px)",
        str(c["chromium_cpu_pct"]),
        str(c["chromium_rss_mb"]),
        str(c["janus_cpu_pct"]),
        f"{c['generator_cpu_pct']} ({r['generator']})",
    ]
    head = [
        "sites joined",
        "tiles",
        "live tiles per sample (min / median / max)",
        "never live",
        "grid",
        "fits 1920×1080",
        "Chromium CPU %",
        "Chromium MB",
        "Janus CPU %",
        "generator CPU %",
    ]
    stamp = f"{m['cores']} cores / {m['memory_gb']} GB ({m['cpu']})"
    return "\n".join(
        [
            f"# HQ's video wall — {doc['name']}",
            "",
            f"{stamp}, commit {m['commit']}, {m['when']}.",
            "",
            "| " + " | ".join(head) + " |",
            "| " + " | ".join("---" for _ in head) + " |",
            "| " + " | ".join(cells) + " |",
            "",
            f"![wall]({doc['name']}.png)",
            "",
        ]
    )


def write(result: dict[str, Any], opts: WallOptions) -> Path:
    folder = opts.results or report.RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / opts.name
    shot = result.pop("_screenshot", None)
    doc = {"name": opts.name, "machine": report.machine(), "result": result}
    base.with_suffix(".json").write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    base.with_suffix(".md").write_text(markdown(doc))
    if shot:
        base.with_suffix(".png").write_bytes(shot)
    return base
