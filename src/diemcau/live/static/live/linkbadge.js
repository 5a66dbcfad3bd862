// Docs: docs/live.md#media — what a site's link is doing, in words: the layer the server
// chose for the site (state section `links`, issue 12) and what actually arrives there
// (its `down` report, linkstats.js). The site's own badge and HQ's tile say "picture
// frozen" or "no sound" when that is the truth, whatever the layer. Pure apart from
// gettext/interpolate (tests/js/linkbadge.test.mjs).

/* global gettext, interpolate */

import { formatNumber } from "./format.js";

// The picture has not moved for longer than this: say so.
export const FROZEN_AFTER_MS = 2000;
export const SILENT_AFTER_MS = 2000;

export const LAYERS = ["high", "high_half_rate", "medium", "low", "low_half_rate", "audio"];

// The site's entry in `links`, or null (absent: high layer, chosen automatically).
export function linkOf(state, siteId) {
  if (!state || siteId == null) return null;
  return state.links?.[String(siteId)] ?? null;
}

// Whether the server has the site on sound only.
export function soundOnly(link) {
  return !!link && link.video === false;
}

function layerText(layer) {
  switch (layer) {
    case "high":
      return gettext("high layer");
    case "high_half_rate":
      return gettext("high layer, half frame rate");
    case "medium":
      return gettext("medium layer");
    case "low":
      return gettext("low layer");
    case "low_half_rate":
      return gettext("low layer, half frame rate");
    case "audio":
      return gettext("sound only");
    default:
      return String(layer ?? "");
  }
}

// Losses shown to one decimal under 10 %, whole above.
function lossNumber(loss, lang) {
  return formatNumber(loss < 10 ? Math.round(loss * 10) / 10 : Math.round(loss), lang);
}

// HQ's tile: the server's decision for the site, e.g. "low layer · 480 kbit/s · 4 % loss",
// "sound only", "pinned: low layer", "weak link mode: sound only". "" for the high layer
// chosen automatically (nothing to say).
export function decisionText(link, lang) {
  if (!link || !LAYERS.includes(link.layer)) return "";
  const layer = layerText(link.layer);
  if (link.by === "pinned") return interpolate(gettext("pinned: %(layer)s"), { layer }, true);
  if (link.by === "weak_mode") return interpolate(gettext("weak link mode: %(layer)s"), { layer }, true);
  if (link.layer === "high") return "";
  const kbps = typeof link.kbps === "number" ? formatNumber(Math.round(link.kbps), lang) : null;
  const loss = typeof link.loss === "number" ? lossNumber(link.loss, lang) : null;
  if (kbps != null && loss != null) return interpolate(gettext("%(layer)s · %(kbps)s kbit/s · %(loss)s % loss"), { layer, kbps, loss }, true);
  if (kbps != null) return interpolate(gettext("%(layer)s · %(kbps)s kbit/s"), { layer, kbps }, true);
  if (loss != null) return interpolate(gettext("%(layer)s · %(loss)s % loss"), { layer, loss }, true);
  return layer;
}

// The truth of what arrives, from how long the main picture stood still and sound was
// missing (linkstats.follow) and the link entry: "frozen", "no-sound", "sound-only",
// "degraded" (a layer below high), "ok" or "unknown" (no report yet).
export function linkHealth(health, link, { videoExpected = true } = {}) {
  if (!health) return soundOnly(link) ? "sound-only" : "unknown";
  if (videoExpected && !soundOnly(link) && health.stillMs > FROZEN_AFTER_MS) return "frozen";
  if (health.silentMs > SILENT_AFTER_MS) return "no-sound";
  if (soundOnly(link)) return "sound-only";
  if (link && link.layer && link.layer !== "high") return "degraded";
  return "ok";
}

// HQ's tile: a short word for what the site gets ("" when all is well or unknown).
export function tileHealthText(code, link) {
  switch (code) {
    case "frozen":
      return gettext("picture frozen");
    case "no-sound":
      return gettext("no sound");
    case "sound-only":
      return link ? "" : gettext("sound only"); // the decision text says it already
    default:
      return "";
  }
}

// Whole sentences per layer (a translator never gets a phrase to fit into another).
function degradedText(layer) {
  switch (layer) {
    case "high_half_rate":
      return gettext("Weak link: picture at half frame rate");
    case "medium":
      return gettext("Weak link: medium picture quality");
    case "low":
      return gettext("Weak link: low picture quality");
    case "low_half_rate":
      return gettext("Weak link: low picture quality, half frame rate");
    default:
      return gettext("Weak link: lower picture quality");
  }
}

// The site page's own badge: [text, kind] (kind: good, fair, poor, unknown as the CSS has).
// `grade`: the uplink's grade (media.js grade); `rtt` in ms or null.
export function siteBadge(code, link, { grade = "unknown", rtt = null, lang } = {}) {
  const ms = rtt != null ? formatNumber(Math.round(rtt), lang) : null;
  switch (code) {
    case "frozen":
      return [gettext("Picture frozen: the link is too weak right now"), "poor"];
    case "no-sound":
      return [gettext("No sound is arriving"), "poor"];
    case "sound-only":
      return [gettext("Weak link: sound only"), "poor"];
    case "degraded":
      return [degradedText(link.layer), "fair"];
    default:
      break;
  }
  const words = {
    good: ms != null ? interpolate(gettext("Link: good · %(ms)s ms"), { ms }, true) : gettext("Link: good"),
    fair: ms != null ? interpolate(gettext("Link: fair · %(ms)s ms"), { ms }, true) : gettext("Link: fair"),
    poor: ms != null ? interpolate(gettext("Link: poor · %(ms)s ms"), { ms }, true) : gettext("Link: poor"),
    unknown: gettext("Link: measuring…"),
  };
  return [words[grade] ?? words.unknown, grade in words ? grade : "unknown"];
}
