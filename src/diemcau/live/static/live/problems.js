// Docs: docs/live.md#media — what a media problem means and what the people in the room
// (or at HQ) can do about it, in words for a meeting-room PC, not for engineers.

/* global gettext, interpolate */

import { deviceProblem } from "./devices.js";
import { janusUrl } from "./media.js";

export const CODES = ["insecure", "no-camera", "no-microphone", "no-devices", "denied", "busy", "ws", "ice"];

const AGAIN = () => gettext("Try camera and microphone again");

// `ctx`: {httpsUrl, caUrl, host, httpsPort, mediaIp, rtpPorts, hq}. Returns
// {title, what, todo, level}; level is "info" (calm: nothing is broken for the meeting),
// "warn" (this site is not fully seen or heard) or "bad" (picture and sound do not pass).
export function explain(code, ctx = {}) {
  const v = {
    url: ctx.httpsUrl || "https://…",
    ca: ctx.caUrl || "/ca/",
    host: ctx.host || "?",
    port: ctx.httpsPort ?? 443,
    ip: ctx.mediaIp || "?",
    ports: ctx.rtpPorts || "?",
    turn: ctx.turnPorts || "",
    again: AGAIN(),
  };
  const fill = (s) => interpolate(s, v, true);
  const hq = !!ctx.hq;
  switch (code) {
    case "insecure":
      return {
        level: "bad",
        title: gettext("Camera and microphone work only on the secure address"),
        what: gettext("This page was opened over plain http (not https): the browser does not let it use the camera or microphone."),
        todo: fill(gettext("Open %(url)s instead. If the browser warns about the certificate there, first install the server's certificate authority from %(ca)s, then open the address again.")),
      };
    case "no-camera":
      return hq
        ? {
            level: "info",
            title: gettext("No camera on this PC"),
            what: gettext("You watch and run the meeting; sites do not see HQ's picture."),
            todo: fill(gettext("To show HQ's picture, connect a camera, then press “%(again)s”.")),
          }
        : {
            level: "warn",
            title: gettext("No camera: sending sound only"),
            what: gettext("No camera was found on this PC: the meeting hears your site but does not see it."),
            todo: fill(gettext("To be seen, connect a camera, then press “%(again)s”.")),
          };
    case "no-microphone":
      return hq
        ? {
            level: "info",
            title: gettext("No microphone on this PC"),
            what: gettext("Sites see HQ's picture but do not hear HQ."),
            todo: fill(gettext("To be heard, connect a microphone, then press “%(again)s”.")),
          }
        : {
            level: "warn",
            title: gettext("No microphone: sending picture only"),
            what: gettext("No microphone was found on this PC: the meeting sees your site but cannot hear it, even when you have the floor."),
            todo: fill(gettext("To be heard, connect a microphone, then press “%(again)s”. Meanwhile you can still ask to speak, answer the roll call, vote and write messages.")),
          };
    case "no-devices":
      return hq
        ? {
            level: "info",
            title: gettext("No camera on this PC"),
            what: gettext("You watch and run the meeting; sites do not see HQ's picture."),
            todo: fill(gettext("To show HQ's picture and be heard, connect a camera and a microphone, then press “%(again)s”.")),
          }
        : {
            level: "warn",
            title: gettext("No camera or microphone: receiving only"),
            what: gettext("You still see and hear the meeting, answer the roll call, ask to speak in writing and vote. The meeting does not see or hear your room."),
            todo: fill(gettext("To be seen and heard, connect a camera and a microphone, then press “%(again)s”.")),
          };
    case "denied":
      return {
        level: hq ? "info" : "bad",
        title: gettext("The browser blocked the camera and microphone"),
        what: hq
          ? gettext("You watch and run the meeting, but sites neither see nor hear HQ.")
          : gettext("This page is not allowed to use the camera or microphone: the meeting neither sees nor hears what is blocked. You still see and hear the meeting."),
        todo: fill(gettext("Click the camera icon in the address bar, choose Allow for the camera and the microphone, then press “%(again)s”.")),
      };
    case "busy":
      return {
        level: hq ? "info" : "warn",
        title: gettext("The camera is used by another program"),
        what: gettext("Another program (another browser window, a video call, the camera app) holds the camera or microphone, so this page cannot use it."),
        todo: fill(gettext("Close that program, then press “%(again)s”.")),
      };
    case "ws":
      return {
        level: "bad",
        title: gettext("Cannot reach the media server"),
        what: hq
          ? fill(gettext("The HQ console cannot open the connection for picture and sound to %(host)s: the video wall stays black, but you can still run the meeting."))
          : fill(gettext("This PC cannot open the connection for picture and sound to %(host)s. Roll call, requests to speak, votes and messages still work.")),
        todo: fill(gettext("The network must allow HTTPS (TCP port %(port)s) to %(host)s, WebSocket connections included: ask the IT department. Trying again by itself.")),
      };
    case "ice":
      return {
        level: "bad",
        title: gettext("Picture and sound cannot pass (UDP blocked)"),
        what: hq
          ? gettext("The HQ console reached the media server, but picture and sound (UDP) cannot pass: the video wall stays black, but you can still run the meeting.")
          : gettext("This PC reached the media server, but picture and sound (UDP) cannot pass. Roll call, requests to speak, votes and messages still work."),
        todo: v.turn
          ? fill(gettext("The network (firewall) must allow UDP to %(ip)s, ports %(ports)s, or at least TCP to %(host)s, ports %(turn)s (the relay for networks that block UDP): ask the IT department. Trying again by itself."))
          : fill(gettext("The network (firewall) must allow UDP to %(ip)s, ports %(ports)s: ask the IT department. Trying again by itself.")),
      };
    default:
      return {
        level: "bad",
        title: gettext("Picture and sound do not work"),
        what: gettext("Something went wrong with the camera, the microphone or the media connection."),
        todo: fill(gettext("Press “%(again)s”; if that does not help, reload the page.")),
      };
  }
}

// The one problem a page shows, most important first: not on https, the media server
// unreachable, UDP blocked, then the devices. null: nothing to say.
export function pageProblem({ secure = true, problem = null, status = null } = {}) {
  if (!secure) return "insecure";
  if (problem) return problem;
  return status ? deviceProblem(status) : null;
}

// A site's badge on HQ's video wall, from its `media_status` message:
// {code, text}; code "ok" (nothing to show) or "unknown" (no report yet) have no text.
export function tileBadge(s) {
  if (!s) return { code: "unknown", text: "" };
  const both = [s.camera, s.microphone];
  if (s.problem === "ws") return { code: "ws", text: gettext("media server unreachable") };
  if (s.problem === "ice") return { code: "ice", text: gettext("UDP blocked") };
  if (both.includes("insecure")) return { code: "insecure", text: gettext("not on https: no camera or microphone") };
  if (both.includes("denied")) return { code: "denied", text: gettext("camera blocked") };
  if (both.includes("busy")) return { code: "busy", text: gettext("camera used by another program") };
  if (s.receive_only) return { code: "receive-only", text: gettext("receive only (no camera or microphone)") };
  if (s.camera !== "ok") return { code: "no-camera", text: gettext("no camera") };
  if (s.microphone !== "ok") return { code: "no-microphone", text: gettext("no microphone") };
  return { code: "ok", text: "" };
}

// What the problem panel needs to say where to go and what the network must allow.
export function problemContext(config, access, { hq = false, loc = globalThis.location } = {}) {
  let host = loc.host;
  try {
    if (access) host = new URL(janusUrl(access.janus_url, loc)).host;
  } catch {
    /* keep the page's host */
  }
  return {
    httpsUrl: config.https_url,
    caUrl: config.ca_url,
    httpsPort: config.https_port,
    mediaIp: config.media_ip,
    rtpPorts: config.rtp_ports,
    turnPorts: config.turn_ports || "",
    host,
    hq,
  };
}

// The header's media badge as [text, kind]: never blank. `keeper` is a MediaKeeper.
export function mediaBadge(keeper, { hq = false, secure = true } = {}) {
  const m = keeper.media;
  const s = keeper.status;
  const f = keeper.failure;
  if (f === "ws") return [gettext("Media server unreachable: retrying…"), "bad"];
  if (f === "ice") return [gettext("Picture and sound cannot pass (UDP blocked): retrying…"), "bad"];
  if (f === "error" && keeper.failMessage) return [interpolate(gettext("Media failed: %s. Retrying…"), [keeper.failMessage]), "bad"];
  if (f) return [gettext("Media connection lost: reconnecting…"), "bad"];
  if (!m) return [secure ? gettext("Media off") : gettext("Receiving only: not on the secure address"), "wait"];
  if (!s) return [gettext("Connecting camera and microphone…"), "wait"];
  if (s.receiveOnly) {
    return hq
      ? [gettext("Watching: no camera on this PC"), "wait"]
      : [gettext("Receiving only: no camera or microphone"), "warn"];
  }
  if (!m.publishedUp) return [gettext("Connecting camera and microphone…"), "wait"];
  if (s.camera !== "ok") return [gettext("Sending sound only (no camera)"), "good"];
  if (s.microphone !== "ok") return [gettext("Sending picture only (no microphone)"), "good"];
  return [gettext("Sending picture and sound"), "good"];
}
