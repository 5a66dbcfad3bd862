// Docs: docs/live.md#media — the page's camera and microphone, acquired here rather than
// inside janus.js so that every failure gets a name the page can explain (problems.js).

// What a getUserMedia failure means for the people in the room:
//   missing  — no such device (none plugged in, or the chosen one was unplugged)
//   denied   — the browser (or the person) blocked access
//   busy     — the device exists but another program holds it
//   insecure — the page is not on https: the browser offers no devices at all
//   error    — anything else
const CODES = {
  NotFoundError: "missing",
  DevicesNotFoundError: "missing",
  OverconstrainedError: "missing",
  NotAllowedError: "denied",
  PermissionDeniedError: "denied",
  SecurityError: "denied",
  NotReadableError: "busy",
  TrackStartError: "busy",
  AbortError: "busy",
};

export const STATES = ["ok", "missing", "denied", "busy", "insecure", "error"];

// Whether this page may ask for devices at all (https, or localhost).
export function secure() {
  return globalThis.isSecureContext !== false && !!globalThis.navigator?.mediaDevices?.getUserMedia;
}

export function classify(err) {
  if (!secure()) return "insecure";
  return CODES[err?.name] || "error";
}

function constraints(kind, deviceId) {
  const base = kind === "video" ? { width: { ideal: 1280 }, height: { ideal: 720 } } : {};
  return deviceId ? { ...base, deviceId: { exact: deviceId } } : Object.keys(base).length ? base : true;
}

async function capture(kinds, ids) {
  const wanted = {};
  for (const kind of kinds) wanted[kind] = constraints(kind, ids[kind]);
  return globalThis.navigator.mediaDevices.getUserMedia(wanted);
}

// One kind alone; a chosen device that is gone falls back to the default one.
async function one(kind, ids) {
  try {
    return { track: (await capture([kind], ids)).getTracks()[0] || null, status: "ok" };
  } catch (err) {
    if (ids[kind] && classify(err) === "missing") return one(kind, { ...ids, [kind]: null });
    return { track: null, status: classify(err) };
  }
}

// One kind ("audio" or "video") alone, e.g. another device chosen: {track|null, status}.
export async function acquireKind(kind, deviceId = null) {
  if (!secure()) return { track: null, status: "insecure" };
  return one(kind, { [kind]: deviceId });
}

// Camera and microphone together, else each alone. Never rejects:
// {audio: track|null, video: track|null, status: {audio: "ok"|code, video: "ok"|code}}.
export async function acquire({ audio = null, video = null } = {}) {
  if (!secure()) return { audio: null, video: null, status: { audio: "insecure", video: "insecure" } };
  const ids = { audio, video };
  try {
    const stream = await capture(["audio", "video"], ids);
    const a = stream.getAudioTracks()[0] || null;
    const v = stream.getVideoTracks()[0] || null;
    if (a && v) return { audio: a, video: v, status: { audio: "ok", video: "ok" } };
    for (const t of stream.getTracks()) t.stop();
  } catch {
    // One of the two is missing, blocked or busy: find out which.
  }
  const a = await one("audio", ids);
  const v = await one("video", ids);
  return { audio: a.track, video: v.track, status: { audio: a.status, video: v.status } };
}

// The page-level summary sent to HQ and shown on the page.
export function mediaStatus(status) {
  const camera = status.video;
  const microphone = status.audio;
  return { camera, microphone, receiveOnly: camera !== "ok" && microphone !== "ok" };
}

// The problem code (problems.js) for a device status, or null when both work.
export function deviceProblem({ camera, microphone }) {
  if (camera === "ok" && microphone === "ok") return null;
  const both = [camera, microphone];
  for (const code of ["insecure", "denied", "busy"]) if (both.includes(code)) return code;
  if (camera !== "ok" && microphone !== "ok") return "no-devices";
  return camera !== "ok" ? "no-camera" : "no-microphone";
}
