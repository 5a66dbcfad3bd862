// Docs: docs/live.md — HQ's video wall: which tiles come first, and how dense the grid is.
// A pure module (no DOM), tested by tests/js/wall.test.mjs.

// Above this many sites the dense grid is the default: 67 tiles fit one 1920×1080 screen.
export const DENSE_ABOVE = 30;

// What a site's tile shows, the most urgent first. A chair at HQ must see the problems of a
// 67-site meeting without scrolling: sites that never joined, that left, whose link was
// cut, and whose picture does not reach HQ come before the sites that are fine.
export const RANK = Object.freeze({ absent: 0, left: 1, lost: 2, "no-video": 3, ok: 4 });

// The media badges (problems.js `tileBadge`) that mean HQ gets no picture from the site.
const NO_VIDEO = new Set(["ws", "ice", "insecure", "denied", "busy", "no-camera"]);

// A tile's rank from what the console knows of the site: presence ("connected", "absent",
// "left", "reconnecting"), its media badge code, and whether its camera is named in the
// state (a connected site that publishes nothing is a problem too, "receive-only" aside).
export function tileRank({ presence = "absent", media = "unknown", publishing = true } = {}) {
  if (presence === "absent") return RANK.absent;
  if (presence === "left") return RANK.left;
  if (presence === "reconnecting") return RANK.lost;
  if (NO_VIDEO.has(media)) return RANK["no-video"];
  if (!publishing && media !== "receive-only") return RANK["no-video"];
  return RANK.ok;
}

// The sites in wall order: by rank, and within a rank in the meeting's own order (stable,
// so tiles do not shuffle when nothing changed). `rankOf(site)` gives a site's rank.
export function wallOrder(sites, rankOf) {
  return sites
    .map((site, index) => ({ site, index, rank: rankOf(site) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((x) => x.site);
}

// The grid: what the chair chose, else dense above DENSE_ABOVE sites.
export function density(count, chosen = null) {
  if (chosen === "dense" || chosen === "normal") return chosen;
  return count > DENSE_ABOVE ? "dense" : "normal";
}
