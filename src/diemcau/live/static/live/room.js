// Docs: docs/live.md — the site room page: the room PC on a big screen, run by the site
// operator. Opened from the site's join link; no password.

import { Control } from "./control.js";
import { pageLanguage } from "./format.js";
import { linkHealth, linkOf, siteBadge, soundOnly } from "./linkbadge.js";
import { follow } from "./linkstats.js";
import { MediaKeeper, grade } from "./media.js";
import { withLink } from "./plan.js";
import { feedOf, wanted, SCREEN } from "./policy.js";
import { mediaBadge, pageProblem, problemContext } from "./problems.js";
import { $, h, number, play, renderChat, renderProblem, setBadge, show, toast } from "./ui.js";

const config = JSON.parse(document.getElementById("live-config").textContent);
const control = new Control(config.meeting, "site");
let micOn = false;
let camOn = true;
let lastAllowed = false;
// Camera and microphone need a secure context (https, or localhost): over plain http the
// browser offers no devices, and the page says where the secure address is.
const secure = window.isSecureContext !== false;

const sitesById = () => new Map((control.state?.sites || []).map((s) => [s.id, s]));

function setConnection(text, kind) {
  const el = $("#connection");
  el.textContent = text;
  el.className = `connection ${kind}`;
}

control.addEventListener("status", (e) => {
  $("#connection").dataset.status = e.detail;
  if (e.detail === "lost") setConnection(gettext("Connection lost: reconnecting…"), "bad");
  else if (e.detail === "reconnecting") setConnection(gettext("Reconnecting to the server…"), "bad");
  else if (e.detail === "refused") setConnection(gettext("This page may no longer join: open your site's join link again."), "bad");
  else if (e.detail === "revoked") setConnection(gettext("This join link no longer works: it was replaced, it expired or your site was withdrawn. Ask HQ for the current link."), "bad");
  else if (e.detail === "ended") setConnection(gettext("The meeting has ended. You can close this page."), "good");
  // Closed by the server: the camera and microphone are let go.
  if (e.detail === "revoked" || e.detail === "ended" || e.detail === "refused") keeper.follow(false);
  else if (e.detail === "connected") setConnection(gettext("Connected"), "good");
});
control.addEventListener("problem", (e) => toast(e.detail, "error"));
control.addEventListener("chat", () => renderChat($("#chat-log"), control.state.chat, sitesById()));
control.addEventListener("state", () => render());

function render() {
  const state = control.state;
  const you = control.you;
  const sites = sitesById();
  const me = sites.get(you.site);
  $("#meeting-status").textContent = {
    scheduled: gettext("Not started yet: keep this page open."),
    live: gettext("Live"),
    ended: gettext("The meeting has ended. Thank you."),
    cancelled: gettext("The meeting was cancelled."),
  }[state.meeting.status];
  $("#meeting-status").className = `badge ${state.meeting.status}`;
  // Announcement banner.
  show($("#announcement"), !!state.announcement);
  $("#announcement-text").textContent = state.announcement || "";
  // Stage labels.
  const main = sites.get(state.main_source);
  $("#main-label").textContent = main ? main.name : "";
  const floorSite = state.floor ? sites.get(state.floor.site) : null;
  const floorVisible = !!floorSite && state.floor.site !== state.main_source && state.floor.site !== you.site;
  show($("#floor-box"), floorVisible);
  $("#floor-label").textContent = !floorSite
    ? ""
    : state.floor.topic
      ? interpolate(gettext("Speaking: %(site)s — %(topic)s"), { site: floorSite.name, topic: state.floor.topic }, true)
      : interpolate(gettext("Speaking: %(site)s"), { site: floorSite.name }, true);
  // The slides box appears once their stream actually arrives (see placeStreams).
  // Microphone: open only when the server allows it (floor, main source, or the chair).
  const allowed = (state.mics?.open || []).includes(you.site);
  if (allowed && !lastAllowed) micOn = true; // given the floor: open the mic at once
  if (!allowed) micOn = false;
  lastAllowed = allowed;
  keeper.media?.setMic(micOn, allowed);
  const noMic = !!keeper.status && keeper.status.microphone !== "ok";
  const micBtn = $("#mic-btn");
  micBtn.disabled = !allowed || noMic;
  micBtn.textContent = noMic
    ? gettext("No microphone: ask to speak in writing")
    : !allowed
      ? gettext("Microphone closed (wait for the chair)")
      : micOn
        ? gettext("Microphone ON — click to mute")
        : gettext("Microphone muted — click to speak");
  micBtn.className = `big ${allowed && micOn && !noMic ? "on" : "off"}`;
  // Floor request.
  const mine = (state.queue || []).findIndex((q) => q.site === you.site);
  const holding = state.floor?.site === you.site;
  show($("#floor-request"), mine < 0 && !holding && state.meeting.status === "live");
  show($("#floor-waiting"), mine >= 0);
  $("#floor-position").textContent =
    mine >= 0 ? interpolate(gettext("Waiting to speak: number %s in the queue."), [mine + 1]) : "";
  show($("#floor-holding"), holding);
  show($("#screen-btn"), holding || false);
  // Roll call.
  const roll = state.roll_call;
  show($("#rollcall"), !!roll && roll.open);
  if (roll && roll.open) {
    $("#rollcall-title").textContent = interpolate(gettext("Roll call no. %s: how many delegates are in your room?"), [roll.number]);
    const answered = roll.answers[String(you.site)];
    const held = (roll.held || {})[String(you.site)];
    $("#rollcall-answered").textContent =
      held !== undefined
        ? interpolate(gettext("Sent: %s delegates present. That is far more than your site expects: HQ must confirm it before it counts. Correct it if it was a mistake."), [number(held)])
        : answered !== undefined
          ? interpolate(gettext("Sent: %s delegates present. You may correct it."), [number(answered)])
          : "";
    const input = $("#rollcall-count");
    if (!input.dataset.touched) input.value = answered ?? me?.expected ?? 0;
  }
  renderVote(state, you);
  renderChat($("#chat-log"), state.chat, sites);
  renderLink(state, you);
  // Media follows the meeting, at the layers the server chose for this site's link
  // (`links`, docs/live.md): every picture it receives, paused on sound only.
  keeper.follow(state.meeting.status === "live");
  keeper.media?.setWanted(withLink(wanted(state, you), linkOf(state, you.site)));
  placeStreams();
}

// --- the site's link (issue 12) ----------------------------------------------------------

let lastQuality = null; // the last report this page sent
let health = null; // how long the main picture stood still and sound was missing (linkstats.js)
let uplinkCapped = false;

// Sound only: the last picture stays (a paused track keeps its frame) with a notice over
// it; the weak-link-mode switch shows what the server holds.
function renderLink(state, you) {
  const link = linkOf(state, you.site);
  show($("#weak-notice"), soundOnly(link) && state.main_source !== you.site);
  const box = $("#weak-mode");
  if (box && !box.dataset.pending) box.checked = link?.by === "weak_mode";
  renderQuality();
}

// The badge says what arrives: frozen, no sound, sound only or a lower layer, before the
// uplink's grade (linkbadge.js).
function renderQuality() {
  const state = control.state;
  const you = control.you;
  if (!state || !you) return;
  const link = linkOf(state, you.site);
  const q = lastQuality;
  const videoExpected = state.main_source !== you.site && feedOf(state, state.main_source) != null;
  const el = $("#quality");
  if (!q && !link) {
    // Nothing measured yet, nothing decided: no badge (as before the first report).
    el.textContent = "";
    el.className = "quality unknown";
    el.dataset.health = "unknown";
    return;
  }
  const code = linkHealth(health, link, { videoExpected });
  const [text, kind] = siteBadge(code, link, { grade: q ? grade(q) : "unknown", rtt: q?.rtt ?? null, lang: pageLanguage() });
  el.className = `quality ${kind}`;
  el.dataset.health = code;
  el.textContent = text;
  el.title = uplinkCapped ? gettext("Your upload is weak: the page sends a smaller picture until it recovers.") : "";
}

// Whether this page receives someone's sound now (then its absence is worth saying).
function audioExpected(media) {
  for (const t of media.targets().values()) if (t.type === "audio") return true;
  return false;
}

let shownVote = null;
const castHere = new Set();

function renderVote(state, you) {
  const vote = state.vote;
  // An open vote, or the result of the last one (until the next opens).
  show($("#vote"), !!vote);
  if (!vote) return;
  $("#vote-title").textContent = interpolate(gettext("Vote no. %s: %s"), [vote.number, vote.text]);
  // A secret ballot does not say who has voted: the page knows from its own reply, or
  // from its snapshot after a reload.
  const voted = vote.voted ? vote.voted.includes(you.site) : you.voted === vote.id || castHere.has(vote.id);
  const r = vote.result;
  if (!vote.open) {
    show($("#vote-choices"), false);
    show($("#vote-counts"), false);
    $("#vote-status").textContent =
      interpolate(gettext("%(tally)s — %(result)s"), {
        tally: vote.options.map((o) => `${o}: ${number(r.tally[o] || 0)}`).join(" · "),
        result: !r.quorum ? gettext("Not valid: quorum not reached.") : r.adopted ? gettext("Adopted.") : gettext("Not adopted."),
      }, true);
    return;
  }
  $("#vote-status").textContent = voted ? gettext("Your site has voted. Thank you.") : "";
  const perSite = vote.counting === "site";
  show($("#vote-choices"), perSite && !voted);
  show($("#vote-counts"), !perSite && !voted);
  if (shownVote === vote.id) return;
  shownVote = vote.id;
  $("#vote-choices").replaceChildren(
    ...vote.options.map((o) => h("button", { class: "big", type: "button", dataset: { option: o }, onclick: () => castVote(vote.id, { choice: o }) }, o)),
  );
  const present = (state.roll_call?.answers || {})[String(you.site)];
  $("#vote-counts").replaceChildren(
    h("p", {}, present !== undefined ? interpolate(gettext("Delegates present: %s. Enter how many chose each option."), [present]) : gettext("Answer the roll call first.")),
    ...vote.options.map((o) => h("label", {}, o, h("input", { type: "number", min: 0, step: 1, value: 0, name: o }))),
    h("button", { class: "big", type: "submit" }, gettext("Send the counts")),
  );
}

$("#vote-counts").addEventListener("submit", (e) => {
  e.preventDefault();
  const counts = {};
  for (const input of e.target.querySelectorAll("input")) counts[input.name] = Number(input.value);
  castVote(control.state.vote.id, { counts });
});

async function castVote(voteId, payload) {
  if (await act("vote.cast", payload, gettext("Vote sent."))) {
    castHere.add(voteId);
    render();
  }
}

for (const form of document.querySelectorAll(".ack-form")) {
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const response = await fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" });
    if (response.ok) {
      form.replaceWith(h("span", { class: "confirmed" }, gettext("confirmed")));
      toast(gettext("Receipt confirmed. HQ can see it."), "success");
    } else {
      toast(gettext("Could not confirm: reload the page and try again."), "error");
    }
  });
}

function placeStreams() {
  const media = keeper.media;
  if (!media || !control.state) return;
  const state = control.state;
  const want = [
    ["#main-video", feedOf(state, state.main_source)],
    ["#floor-video", state.floor ? feedOf(state, state.floor.site) : null],
    ["#screen-video", state.screen ? feedOf(state, state.screen.site, SCREEN) : null],
  ];
  for (const [selector, feed] of want) {
    const video = $(selector);
    const stream = feed ? media.feedStreams.get(feed) : null;
    video.dataset.feed = feed ?? "";
    if (stream) play(video, stream);
    else video.srcObject = null;
  }
  // The picture whose frames linkstats.js counts.
  // None while this site is on sound only: a paused picture is not a frozen one (and a
  // "frozen" report would keep the site from ever climbing back).
  const paused = state.links?.[String(control.you.site)]?.video === false;
  media.mainFeed = state.main_source === control.you.site || paused ? null : feedOf(state, state.main_source);
  show($("#screen-box"), !!state.screen && state.screen.site !== control.you.site && !!$("#screen-video").srcObject);
  // The main source is this site itself (e.g. an award ceremony held here): show self.
  if (state.main_source === control.you.site && selfStream) play($("#main-video"), selfStream);
}

let selfStream = null;

const keeper = new MediaKeeper(control, () => sitesById().get(control.you.site)?.code || "site");
keeper.addEventListener("created", (e) => {
  const m = e.detail;
  renderMedia();
  m.addEventListener("localtrack", (ev) => {
    const { track, on } = ev.detail;
    if (track.kind !== "video") return;
    selfStream = on ? new MediaStream([track]) : null;
    const self = $("#self-video");
    if (selfStream) play(self, selfStream);
    else self.srcObject = null;
    placeStreams();
  });
  m.addEventListener("feed", placeStreams);
  m.addEventListener("feedgone", placeStreams);
  m.addEventListener("published", renderMedia);
  health = null;
  lastQuality = null;
  uplinkCapped = false;
  m.addEventListener("quality", (ev) => {
    const q = ev.detail;
    // {rtt, loss, kbps, down, interval_ms}: the server chooses this site's layers from it.
    control.send("quality", q).catch(() => {});
    lastQuality = q;
    health = follow(health, q.down, q.interval_ms, { audioExpected: audioExpected(m) });
    renderQuality();
  });
  m.addEventListener("uplinkcap", (ev) => {
    uplinkCapped = ev.detail.capped;
    renderQuality();
  });
  m.addEventListener("problem", (ev) => toast(ev.detail, "error"));
});
keeper.addEventListener("started", (e) => {
  e.detail.setCamera(camOn);
  render();
  renderMedia();
  fillDevices();
});
keeper.addEventListener("failed", renderMedia);
keeper.addEventListener("stopped", () => {
  lastQuality = health = null; // a stale report says nothing of the next session
  renderMedia();
  renderQuality();
});
keeper.addEventListener("change", () => {
  renderMedia();
  reportMedia();
  if (control.state) render(); // the microphone button follows the devices
});

// The header badge (never blank) and the problem panel.
function renderMedia() {
  const s = keeper.status;
  const [text, kind] = mediaBadge(keeper, { secure });
  setBadge($("#media-status"), text, kind);
  renderProblem(pageProblem({ secure, problem: keeper.problem, status: s }), problemContext(config, keeper.media?.access, { hq: false }));
  const noCamera = !!s && s.camera !== "ok";
  const cam = $("#cam-btn");
  cam.disabled = noCamera;
  cam.textContent = noCamera ? gettext("No camera") : camOn ? gettext("Camera ON") : gettext("Camera OFF");
  cam.className = `big ${camOn && !noCamera ? "on" : "off"}`;
}

// HQ's wall shows every site's devices and media problem: on every change, and every 5 s
// so that a console opened later learns it at once.
function reportMedia() {
  const s = keeper.status;
  if (!s || control.status !== "connected") return;
  control
    .send("media.status", { camera: s.camera, microphone: s.microphone, receive_only: s.receiveOnly, problem: keeper.problem })
    .catch(() => {});
}
setInterval(reportMedia, 5000);

// --- controls ---------------------------------------------------------------------------

async function act(type, payload, done) {
  try {
    await control.send(type, payload);
    if (done) toast(done, "success");
    return true;
  } catch (err) {
    toast(err.message, "error");
    return false;
  }
}

$("#mic-btn").addEventListener("click", () => {
  micOn = !micOn;
  render();
});
$("#cam-btn").addEventListener("click", () => {
  camOn = !camOn;
  keeper.media?.setCamera(camOn);
  renderMedia();
});
$("#media-retry").addEventListener("click", () => keeper.retryDevices());
// Weak link mode: the site asks for the lower layers itself until it turns it off.
$("#weak-mode").addEventListener("change", async (e) => {
  const box = e.target;
  const on = box.checked;
  box.dataset.pending = "1";
  const done = await act("link.weak", { on }, on ? gettext("Weak link mode on: sound first.") : gettext("Weak link mode off."));
  delete box.dataset.pending;
  // Refused: back to what the server holds (accepted: its `links` event says the same).
  if (!done && control.state) renderLink(control.state, control.you);
});
$("#floor-request-form").addEventListener("submit", (e) => {
  e.preventDefault();
  act("floor.request", { topic: $("#floor-topic").value }, gettext("Request sent: wait for the chair."));
  $("#floor-topic").value = "";
});
$("#floor-cancel").addEventListener("click", () => act("floor.cancel", {}, gettext("Request withdrawn.")));
$("#rollcall-count").addEventListener("input", (e) => (e.target.dataset.touched = "1"));
$("#rollcall-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = Number($("#rollcall-count").value);
  if (!Number.isInteger(value) || value < 0) {
    toast(gettext("Enter the number of delegates present, a whole number."), "error");
    return;
  }
  act("roll_call.answer", { delegates: value }, gettext("Roll call answered."));
});
$("#chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("#chat-input");
  if (!input.value.trim()) return;
  act("chat.send", { text: input.value });
  input.value = "";
});
$("#screen-btn").addEventListener("click", () =>
  keeper.toggleScreen().catch((err) => toast(err.message || String(err), "error")),
);
$("#fullscreen-btn").addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else document.documentElement.requestFullscreen().catch(() => {});
});

async function fillDevices() {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const tracks = keeper.media?.tracks || {};
    const using = { audioinput: tracks.audio?.getSettings?.().deviceId, videoinput: tracks.video?.getSettings?.().deviceId };
    for (const [kind, select] of [["audioinput", $("#mic-select")], ["videoinput", $("#cam-select")]]) {
      select.replaceChildren(
        ...devices
          .filter((d) => d.kind === kind)
          .map((d, i) => h("option", { value: d.deviceId, selected: d.deviceId === using[kind] }, d.label || `${kind} ${i + 1}`)),
      );
    }
  } catch {
    /* no permission yet: the lists fill after the first capture */
  }
}
$("#mic-select").addEventListener("change", (e) => keeper.useDevice("audio", e.target.value).catch((err) => toast(err.message, "error")));
$("#cam-select").addEventListener("change", (e) => keeper.useDevice("video", e.target.value).catch((err) => toast(err.message, "error")));
navigator.mediaDevices?.addEventListener?.("devicechange", fillDevices);

control.addEventListener("status", (e) => e.detail === "connected" && reportMedia());
control.start();
renderMedia();
setTimeout(fillDevices, 3000);
window.diemcau = { control, get media() { return keeper.media; } }; // for operators' debugging and tests
