// Docs: docs/live.md — the HQ console: video wall of every site, floor queue, mutes, main
// source, roll call, announcements, chat, screen share. For the chair and HQ operators.

import { Control } from "./control.js";
import { pageLanguage } from "./format.js";
import { decisionText, linkHealth, linkOf, tileHealthText } from "./linkbadge.js";
import { follow } from "./linkstats.js";
import { MediaKeeper, grade } from "./media.js";
import { feedOf, wanted, SCREEN } from "./policy.js";
import { mediaBadge, pageProblem, problemContext, tileBadge } from "./problems.js";
import { $, h, number, play, renderChat, renderProblem, setBadge, show, timeOf, toast } from "./ui.js";
import { density, tileRank, wallOrder } from "./wall.js";

const config = JSON.parse(document.getElementById("live-config").textContent);
const control = new Control(config.meeting, "hq");
let enlarged = null;
let selfStream = null;
let mainSourcePick = null; // a site chosen in the main-source list and not sent yet
const quality = new Map(); // site id -> {rtt, loss, kbps, down, interval_ms}
const health = new Map(); // site id -> how long its main picture stood still, sound was missing
const mediaStates = new Map(); // site id -> {camera, microphone, receive_only, problem}
const secure = window.isSecureContext !== false;
const tiles = new Map(); // site id -> {root, video, ...}

const sitesById = () => new Map((control.state?.sites || []).map((s) => [s.id, s]));

control.addEventListener("status", (e) => {
  const el = $("#connection");
  el.dataset.status = e.detail;
  el.textContent = {
    connected: gettext("Connected"),
    lost: gettext("Connection lost: reconnecting…"),
    reconnecting: gettext("Reconnecting to the server…"),
    refused: gettext("Not allowed: log in as chair or HQ operator."),
    revoked: gettext("Your session has ended (logged out, or the account was disabled): log in again."),
  }[e.detail] || e.detail;
  el.className = `connection ${e.detail === "connected" ? "good" : "bad"}`;
});
control.addEventListener("problem", (e) => toast(e.detail, "error"));
// Sites whose page the server has not heard from for a few seconds (a cut link?): their
// tile says "connection lost" at once, before the server drops them (consumers.py).
const silent = new Set();
control.addEventListener("link", (e) => {
  if (e.detail.silent) silent.add(e.detail.site);
  else silent.delete(e.detail.site);
  renderTile(e.detail.site);
});
control.addEventListener("chat", () => renderChat($("#chat-log"), control.state.chat, sitesById()));
control.addEventListener("quality", (e) => {
  const q = e.detail;
  quality.set(q.site, q);
  if (q.down) health.set(q.site, follow(health.get(q.site), q.down, q.interval_ms, { audioExpected: hearsSomeone(q.site) }));
  renderTile(q.site);
});

// Whether a site receives someone's sound now: an open microphone of another site that
// publishes (policy.js subscribes a page to every open mic's sound).
function hearsSomeone(siteId) {
  const state = control.state;
  if (!state) return false;
  return (state.mics?.open || []).some((id) => id !== siteId && feedOf(state, id) != null);
}
control.addEventListener("media_status", (e) => {
  mediaStates.set(e.detail.site, e.detail);
  renderTile(e.detail.site);
});
control.addEventListener("state", () => render());

async function act(type, payload = {}, done = null) {
  try {
    await control.send(type, payload);
    if (done) toast(done, "success");
  } catch (err) {
    toast(err.message, "error");
  }
}

// --- the video wall ---------------------------------------------------------------------

function tileFor(site) {
  let tile = tiles.get(site.id);
  if (tile) return tile;
  const video = h("video", { autoplay: true, playsinline: true, muted: site.id === control.you.site, dataset: { site: site.id } });
  const status = h("span", { class: "presence" });
  const mic = h("span", { class: "mic" });
  const hand = h("span", { class: "hand" }, gettext("asks to speak"));
  const badge = h("span", { class: "quality" });
  const media = h("span", { class: "media-badge", dataset: { media: "unknown" }, hidden: true });
  const link = h("span", { class: "link-badge", dataset: { layer: "high" } });
  const healthBadge = h("span", { class: "link-health", dataset: { health: "unknown" } });
  const root = h(
    "div",
    { class: "tile", dataset: { site: site.id, code: site.code }, tabindex: 0, onclick: () => enlarge(site.id) },
    video,
    h("div", { class: "tile-label" }, h("strong", {}, site.code), " ", h("span", { class: "name" }, site.name)),
    h("div", { class: "tile-badges" }, status, mic, hand, media, healthBadge, link, badge),
  );
  tile = { root, video, status, mic, hand, badge, media, link, health: healthBadge };
  tiles.set(site.id, tile);
  return tile;
}

function presenceOf(siteId) {
  const state = control.state;
  let presence = siteId === control.you.site ? "connected" : state.presence[String(siteId)] || "absent";
  if (presence === "connected" && silent.has(siteId)) presence = "reconnecting";
  return presence;
}

// wall.js's rank of a site's tile: not joined, left, cut, no picture, fine.
function rankOf(site) {
  const own = site.id === control.you.site;
  return tileRank({
    presence: presenceOf(site.id),
    media: tileBadge(own ? ownMediaState() : mediaStates.get(site.id)).code,
    publishing: own || feedOf(control.state, site.id) != null,
  });
}

function renderTile(siteId) {
  const state = control.state;
  const tile = tiles.get(siteId);
  if (!state || !tile) return;
  const presence = presenceOf(siteId);
  const rank = rankOf({ id: siteId });
  if (tile.rank !== undefined && tile.rank !== rank) orderWall();
  tile.rank = rank;
  tile.status.textContent = {
    connected: gettext("connected"),
    // Dropped, not back yet: a cut link shows here within 5 s (the server's heartbeat).
    reconnecting: gettext("connection lost"),
    left: gettext("left"),
    absent: gettext("not joined"),
  }[presence];
  tile.status.className = `presence ${presence}`;
  const open = (state.mics?.open || []).includes(siteId);
  tile.mic.textContent = open ? gettext("mic on") : gettext("mic off");
  tile.mic.className = `mic ${open ? "on" : "off"}`;
  show(tile.hand, (state.queue || []).some((q) => q.site === siteId));
  const q = quality.get(siteId);
  const g = q ? grade(q) : "unknown";
  tile.badge.className = `quality ${g}`;
  tile.badge.textContent = q && q.rtt != null ? `${Math.round(q.rtt)} ms` : "";
  tile.badge.title = q
    ? interpolate(
        gettext("Round trip %(rtt)s ms · loss %(loss)s · %(kbps)s kbit/s"),
        { rtt: number(Math.round(q.rtt ?? 0)), loss: `${(q.loss ?? 0).toFixed(1)} %`, kbps: number(Math.round(q.kbps ?? 0)) },
        true,
      )
    : "";
  // Devices and media problems, as the site reports them (HQ's own from this console).
  const own = siteId === control.you.site;
  const m = tileBadge(own ? ownMediaState() : mediaStates.get(siteId));
  tile.media.dataset.media = m.code;
  tile.media.textContent = m.text;
  tile.media.className = `media-badge ${m.code}`;
  show(tile.media, !!m.text && (own || presence === "connected"));
  renderTileLink(tile, siteId, presence);
  tile.root.classList.toggle("floor", state.floor?.site === siteId);
  tile.root.classList.toggle("main-source", state.main_source === siteId);
  tile.root.classList.toggle("enlarged", enlarged === siteId);
}

// The layer the server chose for the site and what arrives there (its own reports): "low
// layer · 480 kbit/s · 4 % loss", "sound only", "pinned: low layer"; "picture frozen",
// "no sound" (linkbadge.js). HQ's own tile: nothing (HQ reports no downlink).
function renderTileLink(tile, siteId, presence) {
  const state = control.state;
  const link = linkOf(state, siteId);
  const here = presence === "connected" && siteId !== control.you.site;
  tile.link.textContent = here ? decisionText(link, pageLanguage()) : "";
  tile.link.dataset.layer = link?.layer ?? "high";
  tile.link.dataset.by = link?.by ?? "auto";
  const videoExpected = state.main_source !== siteId && feedOf(state, state.main_source) != null;
  const code = here && quality.has(siteId) ? linkHealth(health.get(siteId) ?? null, link, { videoExpected }) : "unknown";
  tile.health.dataset.health = code;
  tile.health.textContent = tileHealthText(code, link);
}

// Problems first (wall.js): a tile whose rank changed moves; the rest keep their order.
// Tiles move with their <video>, which keeps playing (replaceChildren moves, not copies).
let orderQueued = false;
function orderWall() {
  if (orderQueued) return;
  orderQueued = true;
  queueMicrotask(() => {
    orderQueued = false;
    const wall = $("#wall");
    const wanted = wallOrder(control.state.sites, rankOf).map((s) => tileFor(s).root);
    if (wall.children.length !== wanted.length || wanted.some((el, i) => wall.children[i] !== el)) wall.replaceChildren(...wanted);
  });
}

let chosenDensity = null; // the chair's choice in the "Tiles" list; null: by the number of sites
function renderWall() {
  const sites = control.state.sites;
  for (const s of sites) {
    tileFor(s);
    renderTile(s.id);
  }
  orderWall();
  const wall = $("#wall");
  wall.dataset.count = sites.length;
  wall.dataset.density = density(sites.length, chosenDensity);
  $("#density").value = wall.dataset.density;
}

function enlarge(siteId) {
  enlarged = enlarged === siteId ? null : siteId;
  const site = sitesById().get(enlarged);
  show($("#enlarged"), !!site);
  if (site) {
    $("#enlarged-title").textContent = site.name;
    $("#enlarged-actions").replaceChildren(...siteActions(site));
  }
  render();
}

function siteActions(site) {
  const state = control.state;
  const open = (state.mics?.open || []).includes(site.id);
  const buttons = [
    h("button", { onclick: () => act("floor.grant", { site: site.id }) }, gettext("Give the floor")),
    open
      ? h("button", { class: "danger", onclick: () => act("mute", { site: site.id, mute: true }) }, gettext("Mute"))
      : h("button", { class: "secondary", onclick: () => act("mute", { site: site.id, mute: false }) }, gettext("Open microphone")),
  ];
  if (state.main_source !== site.id) {
    buttons.push(h("button", { class: "secondary", onclick: () => act("main_source.set", { site: site.id }) }, gettext("Make main source")));
  }
  if (control.you.chair && site.id !== control.you.site) buttons.push(pinControl(site, linkOf(state, site.id)));
  return buttons;
}

// Pin the layers a site receives (link.pin), or give them back to the automatic choice.
const PIN_CHOICES = [
  ["", () => gettext("automatic")],
  ["high", () => gettext("high")],
  ["medium", () => gettext("medium")],
  ["low", () => gettext("low")],
  ["audio", () => gettext("sound only")],
];

function pinnedChoice(link) {
  if (link?.by !== "pinned") return "";
  return { high_half_rate: "high", low_half_rate: "low" }[link.layer] ?? link.layer ?? "";
}

function pinControl(site, link) {
  const current = pinnedChoice(link);
  const select = h(
    "select",
    {
      id: "link-pin",
      dataset: { site: site.id },
      onchange: async (e) => {
        const layer = e.target.value || null;
        try {
          await control.send("link.pin", { site: site.id, layer });
          toast(layer ? gettext("Layer pinned for this site.") : gettext("Layer back to automatic for this site."), "success");
        } catch (err) {
          toast(err.message, "error");
          e.target.value = pinnedChoice(linkOf(control.state, site.id)); // what the server holds
        }
      },
    },
    ...PIN_CHOICES.map(([value, label]) => h("option", { value, selected: value === current }, label())),
  );
  return h("label", { class: "link-pin" }, gettext("Layer this site receives"), select);
}

// --- side panels ------------------------------------------------------------------------

function render() {
  const state = control.state;
  if (!state) return;
  const sites = sitesById();
  $("#meeting-status").textContent = state.meeting.status;
  $("#meeting-status").className = `badge ${state.meeting.status}`;
  $("#meeting-status").textContent = {
    scheduled: gettext("scheduled"),
    live: gettext("live"),
    ended: gettext("ended"),
    cancelled: gettext("cancelled"),
  }[state.meeting.status];
  show($("#start-form"), state.meeting.status === "scheduled");
  show($("#end-form"), state.meeting.status === "live");
  renderWall();
  if (enlarged) $("#enlarged-actions").replaceChildren(...siteActions(sites.get(enlarged)));
  // Floor.
  const floorSite = state.floor ? sites.get(state.floor.site) : null;
  $("#floor-now").replaceChildren(
    floorSite
      ? h(
          "div",
          {},
          h("strong", {}, floorSite.name),
          state.floor.topic ? ` — ${state.floor.topic}` : "",
          " ",
          h("span", { class: "muted" }, interpolate(gettext("(since %(time)s)"), { time: timeOf(state.floor.since) }, true)),
          " ",
          h("button", { class: "danger", id: "take-back", onclick: () => act("floor.take_back") }, gettext("Take back the floor")),
        )
      : h("span", { class: "muted" }, gettext("Nobody has the floor.")),
  );
  $("#queue").replaceChildren(
    ...(state.queue || []).map((q, i) =>
      h(
        "li",
        { dataset: { site: q.site } },
        h("span", {}, `${i + 1}. `, h("strong", {}, sites.get(q.site)?.name || "?"), q.topic ? ` — ${q.topic}` : "", h("span", { class: "muted" }, ` ${timeOf(q.at)}`)),
        h("span", { class: "actions" },
          h("button", { class: "grant", onclick: () => act("floor.grant", { request: q.id }) }, gettext("Grant")),
          h("button", { class: "secondary decline", onclick: () => act("floor.decline", { request: q.id }) }, gettext("Decline")),
        ),
      ),
    ),
  );
  show($("#queue-empty"), !(state.queue || []).length);
  // Main source.
  // The chair's pick survives events arriving before it is sent (they rebuild the list).
  const select = $("#main-source");
  const picked = mainSourcePick ?? state.main_source;
  select.replaceChildren(...state.sites.map((s) => h("option", { value: s.id, selected: s.id === picked }, `${s.code} – ${s.name}`)));
  $("#main-source-now").textContent = sites.get(state.main_source)?.name || "";
  // Roll call.
  const roll = state.roll_call;
  show($("#roll-open"), !roll || !roll.open);
  show($("#roll-close"), !!roll && roll.open);
  if (roll) {
    const t = roll.totals;
    $("#roll-totals").textContent = interpolate(
      roll.open
        ? gettext("Roll call no. %(n)s (open): %(sp)s/%(si)s sites, %(dp)s/%(de)s delegates")
        : gettext("Roll call no. %(n)s (closed): %(sp)s/%(si)s sites, %(dp)s/%(de)s delegates"),
      {
        n: roll.number,
        sp: t.sites_present,
        si: t.sites_invited,
        dp: number(t.delegates_present),
        de: number(t.delegates_expected),
      },
      true,
    );
    $("#roll-answers").replaceChildren(
      ...state.sites.map((s) => {
        const n = roll.answers[String(s.id)];
        const held = (roll.held || {})[String(s.id)];
        const row = h("li", { class: n === undefined ? "missing" : "answered", dataset: { site: s.id } }, h("span", {}, s.name), h("strong", {}, n === undefined ? "—" : number(n)));
        if (held === undefined) return row;
        // Far above the site's expected delegates: not counted until HQ confirms it.
        row.classList.add("held");
        row.append(
          h("span", { class: "held-answer" },
            interpolate(gettext("asks for %(n)s (expected %(e)s)"), { n: number(held), e: number(s.expected) }, true),
            " ",
            h("button", { type: "button", class: "link", dataset: { accept: "true" }, onclick: () => act("roll_call.confirm", { site: s.id, accept: true }, gettext("Confirmed.")) }, gettext("Confirm")),
            " ",
            h("button", { type: "button", class: "link", dataset: { accept: "false" }, onclick: () => act("roll_call.confirm", { site: s.id, accept: false }, gettext("Rejected.")) }, gettext("Reject")),
          ),
        );
        return row;
      }),
    );
  } else {
    $("#roll-totals").textContent = gettext("No roll call yet.");
    $("#roll-answers").replaceChildren();
  }
  renderVote(state, sites);
  $("#announcement-now").textContent = state.announcement || "";
  renderChat($("#chat-log"), state.chat, sites);
  // Media.
  keeper.follow(state.meeting.status === "live");
  keeper.media?.setMic(true, (state.mics?.open || []).includes(control.you.site));
  keeper.media?.setWanted(wanted(state, control.you, { enlarged }));
  placeStreams();
}

let voteFormShown = false;

function renderVote(state, sites) {
  const vote = state.vote;
  const showForm = !vote || (!vote.open && voteFormShown);
  show($("#vote-form"), showForm);
  show($("#vote-live"), !showForm);
  if (!vote || showForm) return;
  $("#vote-title").textContent = interpolate(
    vote.secret ? gettext("Vote no. %s (secret ballot): %s") : gettext("Vote no. %s: %s"),
    [vote.number, vote.text],
  );
  const r = vote.result;
  // A secret ballot has no running tally until it closes.
  const secretOpen = r.tally === null;
  show($("#vote-tally"), !secretOpen);
  const max = secretOpen ? 1 : Math.max(1, ...Object.values(r.tally));
  $("#vote-tally").replaceChildren(
    ...(secretOpen ? [] : vote.options).map((o) =>
      h("tr", { dataset: { option: o } }, h("td", {}, o), h("td", { class: "num" }, number(r.tally[o] || 0)),
        h("td", { style: "width:40%" }, h("div", { class: "bar", style: `width:${Math.round(((r.tally[o] || 0) * 100) / max)}%` }))),
    ),
  );
  $("#vote-progress").textContent = interpolate(
    gettext("%(sites)s of %(invited)s sites voted; %(cast)s of %(eligible)s votes cast; quorum %(q)s%."),
    { sites: r.sites_voted, invited: state.sites.length, cast: number(r.cast), eligible: number(r.eligible), q: vote.quorum_percent },
    true,
  );
  $("#vote-result").textContent = vote.open
    ? secretOpen
      ? gettext("Secret ballot: the totals are shown when the vote closes.")
      : ""
    : resultText(vote);
  show($("#vote-close"), vote.open);
  show($("#vote-new"), !vote.open);
}

export function resultText(vote) {
  const r = vote.result;
  if (!r.quorum) return gettext("Not valid: quorum not reached.");
  return r.adopted ? gettext("Adopted.") : gettext("Not adopted.");
}

function placeStreams() {
  if (!control.state) return;
  for (const [siteId, tile] of tiles) {
    const stream = siteId === control.you.site ? selfStream : keeper.media?.feedStreams.get(feedOf(control.state, siteId));
    if (stream) play(tile.video, stream);
    else tile.video.srcObject = null;
  }
  const big = $("#enlarged-video");
  const stream = enlarged === control.you.site ? selfStream : enlarged ? keeper.media?.feedStreams.get(feedOf(control.state, enlarged)) : null;
  if (stream) play(big, stream);
  else big.srcObject = null;
  const screen = control.state.screen;
  const screenStream = screen && screen.site !== control.you.site ? keeper.media?.feedStreams.get(feedOf(control.state, screen.site, SCREEN)) : null;
  show($("#screen-box"), !!screenStream);
  if (screenStream) play($("#screen-video"), screenStream);
}

const keeper = new MediaKeeper(control, () => "HQ");

function ownMediaState() {
  const s = keeper.status;
  if (!s) return null;
  return { camera: s.camera, microphone: s.microphone, receive_only: s.receiveOnly, problem: keeper.problem };
}

// The console's media badge (never blank) and one calm panel — no toasts: an HQ PC without
// a camera still runs the meeting.
function renderMedia() {
  const s = keeper.status;
  const [text, kind] = mediaBadge(keeper, { hq: true });
  setBadge($("#media-status"), text, kind);
  renderProblem(pageProblem({ secure, problem: keeper.problem, status: s }), problemContext(config, keeper.media?.access, { hq: true }));
  if (control.state) renderTile(control.you.site);
}

keeper.addEventListener("created", (e) => {
  const m = e.detail;
  m.measureDown = false; // HQ reports no downlink: it receives every site at the low layer
  renderMedia();
  m.addEventListener("localtrack", (ev) => {
    if (ev.detail.track.kind !== "video") return;
    selfStream = ev.detail.on ? new MediaStream([ev.detail.track]) : null;
    placeStreams();
  });
  m.addEventListener("feed", placeStreams);
  m.addEventListener("feedgone", placeStreams);
  m.addEventListener("problem", (ev) => toast(ev.detail, "error"));
  m.addEventListener("screenstopped", () => ($("#screen-btn").textContent = gettext("Share screen / slides")));
  m.addEventListener("published", renderMedia);
});
keeper.addEventListener("started", () => {
  render();
  renderMedia();
});
keeper.addEventListener("failed", renderMedia);
keeper.addEventListener("stopped", renderMedia);
keeper.addEventListener("change", renderMedia);
$("#media-retry").addEventListener("click", () => keeper.retryDevices());

// --- controls ---------------------------------------------------------------------------

$("#main-source").addEventListener("change", (e) => {
  mainSourcePick = Number(e.target.value);
});
$("#main-source-form").addEventListener("submit", (e) => {
  mainSourcePick = null;
  e.preventDefault();
  act("main_source.set", { site: Number($("#main-source").value) });
});
$("#main-source-hq").addEventListener("click", () => act("main_source.set", { site: null }));
$("#mute-all").addEventListener("click", () => act("mute.all", {}, gettext("All microphones closed except the main source.")));
$("#roll-open").addEventListener("click", () => act("roll_call.open"));
$("#roll-close").addEventListener("click", () => act("roll_call.close"));
$("#announce-form").addEventListener("submit", (e) => {
  e.preventDefault();
  act("announce", { text: $("#announce-text").value }, gettext("Announcement shown on every site."));
  $("#announce-text").value = "";
});
$("#announce-clear").addEventListener("click", () => act("announce", { text: "" }));
$("#chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("#chat-input");
  if (!input.value.trim()) return;
  act("chat.send", { text: input.value });
  input.value = "";
});
$("#vote-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const options = $("#vote-options").value.split(",").map((o) => o.trim()).filter(Boolean);
  act("vote.open", {
    text: $("#vote-text").value,
    options: options.length ? options : null,
    counting: $("#vote-counting").value,
    secret: $("#vote-secret").checked,
    quorum_percent: Number($("#vote-quorum").value),
  }).then(() => {
    voteFormShown = false;
    $("#vote-text").value = "";
  });
});
$("#vote-close").addEventListener("click", () => act("vote.close"));
$("#vote-new").addEventListener("click", () => {
  voteFormShown = true;
  render();
});
$("#enlarged-close").addEventListener("click", () => enlarge(enlarged));
$("#density").addEventListener("change", (e) => {
  chosenDensity = e.target.value;
  $("#wall").dataset.density = e.target.value;
});
$("#screen-btn").addEventListener("click", () =>
  keeper
    .toggleScreen()
    .then((on) => on && ($("#screen-btn").textContent = gettext("Stop sharing")))
    .catch((err) => toast(err.message || String(err), "error")),
);

control.start();
renderMedia();
window.diemcau = { control, get media() { return keeper.media; } };
