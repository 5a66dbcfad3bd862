"""Which simulcast layers each site receives, chosen from what its link does (issue 12).

Pure decision logic, no Django: every page reports what it receives every 2 s (the
`quality` message, `read_quality` checks it), one `LinkTracker` per site turns the stream
of reports into a layer of the `LADDER` and says when that decision changes; `effective`
combines it with the operators' overrides (HQ's pin, the site's own weak-link mode) into
the entry pages see in the `links` state section. `live.media_policy` keeps the trackers,
`live.services` records the decisions. Docs: docs/live.md, "Layer policy".

Janus 1.1.2 estimates no subscriber's bandwidth, so without this every site gets the high
layer whatever its link (a 500 kbit/s link froze the picture for 59 of 59 seconds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --- the ladder -------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    name: str
    substream: int  # VideoRoom simulcast substream: 0 lowest .. 2 highest resolution
    temporal: int  # VideoRoom temporal layer: 2 full frame rate, 1 half
    video: bool  # False: audio only (the page keeps the last picture and says why)
    need_kbps: float  # what it takes on the link, audio included


# From janus.js's simulcast defaults (maxBitrate h 900, m 300, l 100 kbit/s) plus ~50 kbit/s
# of Opus; half the frame rate takes about 60 % of its layer.
_AUDIO_KBPS = 50.0
LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer("high", 2, 2, True, 950.0),
        Layer("high_half_rate", 2, 1, True, 0.6 * 950.0),
        Layer("medium", 1, 2, True, 350.0),
        Layer("low", 0, 2, True, 150.0),
        Layer("low_half_rate", 0, 1, True, 0.6 * 150.0),
        Layer("audio", 0, 0, False, _AUDIO_KBPS),
    )
}
# Best first: frame rate goes first, then resolution, then the picture.
LADDER: tuple[str, ...] = tuple(LAYERS)
TOP, AUDIO = LADDER[0], LADDER[-1]
WEAK_CAP = "low"  # what weak-link mode allows at most

# Who decided, and why (docs/live.md, the `links` section).
AUTO, PINNED, WEAK_MODE = "auto", "pinned", "weak_mode"
LOSS, FREEZE, BANDWIDTH, RECOVERED = "loss", "freeze", "bandwidth", "recovered"


def rung(layer: str) -> int:
    """0 for the top layer, counting down the ladder."""
    return LADDER.index(layer)


# --- the report ---------------------------------------------------------------------------

MAX_KBPS = 1e6
MAX_MS = 60_000.0
MAX_FPS = 1000.0


def _number(value: Any, limit: float) -> float | None:
    """A finite number from 0 to `limit`, else None (a bad field never stops a report)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if not math.isfinite(number) or not 0 <= number <= limit:
        return None
    return number


@dataclass(frozen=True)
class Downlink:
    """What a page received over one interval (all None: nothing known)."""

    kbps: float | None = None  # received kbit/s
    available: float | None = None  # the browser's availableIncomingBitrate, kbit/s
    loss: float | None = None  # % of video packets lost in the interval
    jitter: float | None = None  # ms
    fps: float | None = None  # frames of the main picture decoded per second
    frozen_ms: float | None = None  # ms of the interval the main picture did not advance
    audio_concealed: float | None = None  # fraction 0..1 of audio samples concealed

    def as_dict(self) -> dict[str, float | None]:
        return {
            "kbps": self.kbps,
            "available": self.available,
            "loss": self.loss,
            "jitter": self.jitter,
            "fps": self.fps,
            "frozen_ms": self.frozen_ms,
            "audio_concealed": self.audio_concealed,
        }


@dataclass(frozen=True)
class Quality:
    """A checked `quality` message: the uplink numbers HQ has always had, and the downlink."""

    rtt: float | None
    loss: float | None  # uplink %
    kbps: float | None  # uplink kbit/s
    interval_ms: float | None
    down: Downlink | None  # None: the page sent no downlink part

    def relayed(self) -> dict[str, Any]:
        """What HQ's consoles are sent (beside `type` and `site`)."""
        return {
            "rtt": self.rtt,
            "loss": self.loss,
            "kbps": self.kbps,
            "down": self.down.as_dict() if self.down is not None else None,
            "interval_ms": self.interval_ms,
        }


def read_quality(message: Mapping[str, Any]) -> Quality:
    """Check a `quality` message strictly: each field a finite, non-negative, bounded number,
    anything else that field None (docs/live.md, "Layer policy")."""
    interval = _number(message.get("interval_ms"), MAX_MS)
    if interval == 0:
        interval = None
    raw = message.get("down")
    down = None
    if isinstance(raw, Mapping):
        frozen = _number(raw.get("frozen_ms"), interval if interval is not None else MAX_MS)
        down = Downlink(
            kbps=_number(raw.get("kbps"), MAX_KBPS),
            available=_number(raw.get("available"), MAX_KBPS),
            loss=_number(raw.get("loss"), 100.0),
            jitter=_number(raw.get("jitter"), MAX_MS),
            fps=_number(raw.get("fps"), MAX_FPS),
            frozen_ms=frozen,
            audio_concealed=_number(raw.get("audio_concealed"), 1.0),
        )
    return Quality(
        rtt=_number(message.get("rtt"), MAX_MS),
        loss=_number(message.get("loss"), 100.0),
        kbps=_number(message.get("kbps"), MAX_KBPS),
        interval_ms=interval,
        down=down,
    )


@dataclass(frozen=True)
class Report:
    """One downlink report as the policy sees it: `at` in seconds on the caller's clock."""

    at: float
    down: Downlink
    interval_ms: float | None = None


# --- the automatic policy -------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The numbers of docs/live.md's "Layer policy"."""

    loss_percent: float = 5.0  # a lossy report: video loss at least this ...
    concealed: float = 0.05  # ... or this share of the audio concealed
    lossy_reports: int = 2  # lossy reports in a row that step down
    freeze_ms: float = 500.0  # reports with the picture stopped this long, in a row ...
    freeze_reports: int = 2  # ... this many, step down (a lone stall is often the PC's own)
    freeze_at_once_ms: float = 1500.0  # one report stopped this long steps down at once
    # A stall counts only with some loss beside it: a picture that stops on a clean link is
    # the PC's own decoder or the sender, and a lower layer would not help.
    freeze_loss_percent: float = 1.0
    settle_seconds: float = 4.0  # after a step down, loss and freezes of the old layer wait
    clean_loss_percent: float = 2.0  # a clean report: less loss than this,
    clean_frozen_ms: float = 250.0  # the picture stopped less than this,
    # less audio concealed than this (well below the 5 % that steps down: with 2 %, a link
    # that loses 3 % at random kept a site on sound only although a picture fitted),
    clean_concealed: float = 0.035
    headroom: float = 1.5  # and, when the browser says, this × the next layer's need
    up_seconds: float = 10.0  # clean for this long: one rung up ...
    climb_seconds: float = 4.0  # ... then one more each this long while it stays clean
    # Leaving sound only is a probe that costs the sound when the link cannot carry a
    # picture after all (measured at 100 kbit/s: 6 % concealed while it lasted), so it
    # waits at least this long.
    audio_up_seconds: float = 30.0
    up_seconds_max: float = 120.0  # the wait doubles up to this ...
    flap_seconds: float = 30.0  # ... each time a step up is undone within this
    silence_seconds: float = 10.0  # a gap this long: evidence starts again, layer kept


DEFAULT = Thresholds()


@dataclass(frozen=True)
class Decision:
    """The automatic choice for a site, and the numbers it was made on."""

    layer: str
    reason: str  # loss, freeze, bandwidth, recovered
    kbps: float | None
    loss: float | None
    at: float


def fitting(available: float) -> int:
    """The best rung whose need the available bitrate covers (audio when none does)."""
    for index, name in enumerate(LADDER):
        if LAYERS[name].need_kbps <= available:
            return index
    return len(LADDER) - 1


@dataclass
class LinkTracker:
    """One site's automatic layer, from the stream of its page's reports."""

    layer: str = TOP
    thresholds: Thresholds = DEFAULT
    wait: float = field(default=-1.0)  # the current wait before a step up (seconds)
    last_at: float | None = None  # the last report's time
    changed_at: float | None = None  # the last decision's time
    stepped_down_at: float | None = None  # the last step down's time
    up_at: float | None = None  # the last step up's time, while it may still be undone
    clean_since: float | None = None
    lossy: int = 0  # lossy reports in a row
    freezy: int = 0  # reports in a row with the picture stopped freeze_ms or more
    climbing: bool = False  # the last change was a step up: the next rung comes sooner

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"layer must be in {list(LADDER)} (got {self.layer!r})")
        if self.wait < 0:
            self.wait = self.thresholds.up_seconds

    def observe(self, report: Report) -> Decision | None:
        """Take one report; a new Decision when the layer changes, else None."""
        t, r = self.thresholds, report.down
        covers = report.at - (report.interval_ms or 0) / 1000  # what the report is about
        if self.last_at is not None:
            if report.at < self.last_at:
                return None  # out of order: the newer report already counted
            if report.at - self.last_at > t.silence_seconds:
                # No reports for a while: keep the layer, gather the evidence again.
                self.lossy, self.clean_since = 0, None
                covers = report.at
            covers = max(covers, self.last_at)
        self.last_at = report.at
        if self.up_at is not None and report.at - self.up_at >= t.flap_seconds:
            # The last step up held: the next one waits the usual time again.
            self.up_at, self.wait = None, t.up_seconds
        here = rung(self.layer)
        # Just after a step down, what arrives still shows the layer before (queues drain).
        settling = (
            self.stepped_down_at is not None and report.at - self.stepped_down_at < t.settle_seconds
        )
        lossy = (r.loss is not None and r.loss >= t.loss_percent) or (
            r.audio_concealed is not None and r.audio_concealed >= t.concealed
        )
        self.lossy = self.lossy + 1 if lossy and not settling else 0
        lossless = r.loss is not None and r.loss < t.freeze_loss_percent
        stalled = r.frozen_ms is not None and r.frozen_ms >= t.freeze_ms and not lossless
        self.freezy = self.freezy + 1 if stalled and not settling else 0

        # Down: as soon as the link shows it cannot carry this layer.
        target, reason = here, ""
        if r.available is not None and fitting(r.available) > target:
            target, reason = fitting(r.available), BANDWIDTH
        if not settling and target == here and here < len(LADDER) - 1:
            frozen = self.freezy >= t.freeze_reports or (
                stalled and r.frozen_ms is not None and r.frozen_ms >= t.freeze_at_once_ms
            )
            if frozen and LAYERS[self.layer].video:
                target, reason = self._below(here, r), FREEZE
            elif self.lossy >= t.lossy_reports:
                target, reason = here + 1, LOSS
        if target > here:
            if self.up_at is not None and report.at - self.up_at < t.flap_seconds:
                self.wait = min(self.wait * 2, t.up_seconds_max)  # it flapped: wait longer
            self.up_at, self.stepped_down_at, self.climbing = None, report.at, False
            return self._change(target, reason, report)

        # Up: one rung, after a clean stretch.
        clean = (
            (r.loss is None or r.loss < t.clean_loss_percent)
            and (r.frozen_ms is None or r.frozen_ms < t.clean_frozen_ms or lossless)
            and (r.audio_concealed is None or r.audio_concealed < t.clean_concealed)
            and (
                here == 0
                or r.available is None
                or r.available >= t.headroom * LAYERS[LADDER[here - 1]].need_kbps
            )
        )
        if not clean:
            self.clean_since = None
            return None
        if self.clean_since is None:
            # Clean since the start of the interval this report covers (not before the
            # last change, nor across a silence).
            self.clean_since = max(covers, self.changed_at) if self.changed_at else covers
        needed = t.climb_seconds if self.climbing else self.wait
        if not LAYERS[self.layer].video:
            needed = max(needed, t.audio_up_seconds)
        if here > 0 and report.at - self.clean_since >= needed:
            self.up_at, self.climbing = report.at, True
            return self._change(here - 1, RECOVERED, report)
        return None

    def _below(self, here: int, r: Downlink) -> int:
        """Where a step down for a freeze goes: one rung, or further when what arrives is
        below this layer's need — a picture that stands still under loss is a full link,
        and what arrives is what it carries (480 kbit/s under the high layer: straight to
        the layer that fits with the headroom a step up asks, not through every rung while
        the picture stays still). Loss alone steps one rung: a still picture sends little,
        so its rate says nothing. Never to sound only in one jump."""
        target = here + 1
        if r.kbps is not None and r.kbps < LAYERS[self.layer].need_kbps:
            target = max(target, fitting(r.kbps / self.thresholds.headroom))
        return min(target, max(here + 1, len(LADDER) - 2))

    def _change(self, target: int, reason: str, report: Report) -> Decision:
        self.layer = LADDER[target]
        self.changed_at = report.at
        self.lossy, self.freezy, self.clean_since = 0, 0, None
        down = report.down
        kbps = down.kbps if down.kbps is not None else down.available
        return Decision(
            layer=self.layer,
            reason=reason,
            kbps=round(kbps) if kbps is not None else None,
            loss=round(down.loss, 1) if down.loss is not None else None,
            at=report.at,
        )


# --- overrides: what pages see --------------------------------------------------------------


def effective(stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A site's entry of the `links` section from what is stored for it (`LiveState.links`:
    `auto` the automatic decision, `pin` HQ's, `weak` the site's own weak-link mode), or None
    for the top layer chosen automatically. A pin wins over weak mode; weak mode caps the
    automatic choice at `WEAK_CAP` (lower if the automatic choice is lower)."""
    stored = stored or {}
    auto = stored.get("auto") or {}
    auto_layer = auto.get("layer", TOP)
    numbers = {"kbps": auto.get("kbps"), "loss": auto.get("loss")}
    pin, weak = stored.get("pin"), stored.get("weak")
    if pin:
        layer, by, reason, since = pin["layer"], PINNED, PINNED, pin["since"]
    elif weak and rung(auto_layer) < rung(WEAK_CAP):
        layer, by, reason, since = WEAK_CAP, WEAK_MODE, WEAK_MODE, weak["since"]
    elif weak:
        layer, by, reason, since = auto_layer, WEAK_MODE, auto["reason"], auto["since"]
    elif auto_layer != TOP:
        layer, by, reason, since = auto_layer, AUTO, auto["reason"], auto["since"]
    else:
        return None
    shape = LAYERS[layer]
    return {
        "layer": layer,
        "substream": shape.substream,
        "temporal": shape.temporal,
        "video": shape.video,
        "by": by,
        "reason": reason,
        **numbers,
        "since": since,
    }
