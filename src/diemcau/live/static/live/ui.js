// Docs: docs/live.md — small DOM helpers shared by the room page and the HQ console.

import { formatNumber, formatTime, pageLanguage } from "./format.js";
import { explain } from "./problems.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function show(el, visible) {
  if (el) el.hidden = !visible;
}

export function timeOf(iso) {
  return formatTime(iso, pageLanguage());
}

export function number(n) {
  return formatNumber(n, pageLanguage());
}

// Attach a stream to a <video>, keeping playback going across track changes.
export function play(video, stream) {
  if (video.srcObject !== stream) video.srcObject = stream;
  const p = video.play();
  if (p && p.catch) p.catch(() => {});
}

export function toast(message, kind = "info") {
  const box = $("#toasts");
  if (!box) return;
  const item = h("div", { class: `toast ${kind}`, role: "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

export function renderChat(log, chat, sites) {
  log.replaceChildren(
    ...(chat || []).map((m) => {
      const who = m.site ? sites.get(m.site)?.name || "?" : m.author || "HQ";
      return h(
        "li",
        { class: m.announcement ? "announcement" : "" },
        h("span", { class: "time" }, timeOf(m.at)),
        " ",
        h("strong", {}, who),
        ": ",
        m.text,
      );
    }),
  );
  log.scrollTop = log.scrollHeight;
}

// Addresses in a sentence become links (the secure address, the CA page).
function linkify(text) {
  return text.split(/(https?:\/\/\S+?)(?=[,.;]?(?:\s|$))/).map((part, i) =>
    i % 2 ? h("a", { href: part, target: "_top" }, part) : part,
  );
}

// Problems the operator can fix at the PC, then press "Try camera and microphone again".
const DEVICE_CODES = ["no-camera", "no-microphone", "no-devices", "denied", "busy"];

// The media problem panel (#media-problem): hidden without a code; `data-code` is the code.
export function renderProblem(code, ctx) {
  const panel = $("#media-problem");
  if (!panel) return;
  panel.hidden = !code;
  panel.dataset.code = code || "";
  if (!code) return;
  const p = explain(code, ctx);
  panel.className = `media-problem ${p.level}`;
  $(".problem-title", panel).textContent = p.title;
  $(".problem-what", panel).textContent = p.what;
  $(".problem-todo", panel).replaceChildren(...linkify(p.todo));
  show($("#media-retry", panel), DEVICE_CODES.includes(code));
}

// The header's media badge: always says something.
export function setBadge(el, text, kind) {
  if (!el) return;
  el.textContent = text || "…";
  el.className = `connection ${kind}`;
}
