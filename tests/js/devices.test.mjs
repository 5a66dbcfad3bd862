// Docs: docs/live.md#media — static/live/devices.js: acquiring camera and microphone and
// naming every failure. Run: node --test tests/js/

import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { acquire, acquireKind, classify, deviceProblem, mediaStatus } from "../../src/diemcau/live/static/live/devices.js";

function track(kind, deviceId = "default") {
  return { kind, deviceId, stopped: false, stop() { this.stopped = true; }, addEventListener() {} };
}

function stream(tracks) {
  return {
    getTracks: () => tracks,
    getAudioTracks: () => tracks.filter((t) => t.kind === "audio"),
    getVideoTracks: () => tracks.filter((t) => t.kind === "video"),
  };
}

function domError(name) {
  return Object.assign(new Error(name), { name });
}

// A browser with these devices: {audio: "ok"|errorName, video: ...}; `calls` records each
// getUserMedia's constraints.
function browser(devices, { secure = true } = {}) {
  const calls = [];
  const mediaDevices = {
    async getUserMedia(constraints) {
      calls.push(constraints);
      const out = [];
      for (const kind of ["audio", "video"]) {
        const wanted = constraints[kind];
        if (!wanted) continue;
        const id = wanted.deviceId?.exact;
        if (id && id !== "present") throw domError("OverconstrainedError");
        if (devices[kind] !== "ok") throw domError(devices[kind]);
        out.push(track(kind, id || "default"));
      }
      return stream(out);
    },
  };
  Object.defineProperty(globalThis, "navigator", { value: secure ? { mediaDevices } : {}, configurable: true });
  globalThis.isSecureContext = secure;
  return calls;
}

afterEach(() => {
  delete globalThis.navigator;
  delete globalThis.isSecureContext;
});

describe("classify", () => {
  const cases = {
    NotFoundError: "missing",
    DevicesNotFoundError: "missing",
    OverconstrainedError: "missing",
    NotAllowedError: "denied",
    PermissionDeniedError: "denied",
    SecurityError: "denied",
    NotReadableError: "busy",
    TrackStartError: "busy",
    AbortError: "busy",
    TypeError: "error",
    SomethingNew: "error",
  };
  for (const [name, code] of Object.entries(cases)) {
    test(`${name} is ${code}`, () => {
      browser({ audio: "ok", video: "ok" });
      assert.equal(classify(domError(name)), code);
    });
  }

  test("anything without a name is error", () => {
    browser({ audio: "ok", video: "ok" });
    assert.equal(classify("boom"), "error");
    assert.equal(classify(undefined), "error");
  });

  test("no navigator.mediaDevices (plain http) is insecure", () => {
    browser({}, { secure: false });
    assert.equal(classify(domError("NotAllowedError")), "insecure");
  });

  test("not a secure context is insecure even with mediaDevices", () => {
    browser({ audio: "ok", video: "ok" });
    globalThis.isSecureContext = false;
    assert.equal(classify(domError("NotFoundError")), "insecure");
  });
});

describe("acquire", () => {
  test("both devices in one getUserMedia", async () => {
    const calls = browser({ audio: "ok", video: "ok" });
    const got = await acquire({ audio: null, video: null });
    assert.deepEqual(got.status, { audio: "ok", video: "ok" });
    assert.equal(got.audio.kind, "audio");
    assert.equal(got.video.kind, "video");
    assert.equal(calls.length, 1);
  });

  test("no camera: the microphone alone", async () => {
    browser({ audio: "ok", video: "NotFoundError" });
    const got = await acquire({});
    assert.deepEqual(got.status, { audio: "ok", video: "missing" });
    assert.equal(got.audio.kind, "audio");
    assert.equal(got.video, null);
  });

  test("no microphone: the camera alone", async () => {
    browser({ audio: "NotFoundError", video: "ok" });
    const got = await acquire({});
    assert.deepEqual(got.status, { audio: "missing", video: "ok" });
    assert.equal(got.video.kind, "video");
  });

  test("neither: resolves with no tracks, never rejects", async () => {
    browser({ audio: "NotFoundError", video: "NotFoundError" });
    const got = await acquire({});
    assert.deepEqual(got, { audio: null, video: null, status: { audio: "missing", video: "missing" } });
  });

  test("blocked and busy are told apart per device", async () => {
    browser({ audio: "NotAllowedError", video: "NotReadableError" });
    const got = await acquire({});
    assert.deepEqual(got.status, { audio: "denied", video: "busy" });
  });

  test("plain http: insecure, without calling getUserMedia", async () => {
    browser({}, { secure: false });
    const got = await acquire({ audio: "x", video: "y" });
    assert.deepEqual(got, { audio: null, video: null, status: { audio: "insecure", video: "insecure" } });
  });

  test("a chosen device that is gone falls back to the default one", async () => {
    const calls = browser({ audio: "ok", video: "ok" });
    const got = await acquire({ audio: "present", video: "unplugged" });
    assert.deepEqual(got.status, { audio: "ok", video: "ok" });
    assert.equal(got.audio.deviceId, "present");
    assert.equal(got.video.deviceId, "default");
    assert.deepEqual(calls.at(-1).video.deviceId, undefined);
  });

  test("acquireKind: one kind alone", async () => {
    browser({ audio: "ok", video: "NotReadableError" });
    assert.equal((await acquireKind("audio")).status, "ok");
    assert.deepEqual(await acquireKind("video"), { track: null, status: "busy" });
  });
});

describe("status and problem", () => {
  test("receive-only when neither works", () => {
    assert.deepEqual(mediaStatus({ audio: "missing", video: "denied" }), { camera: "denied", microphone: "missing", receiveOnly: true });
    assert.equal(mediaStatus({ audio: "ok", video: "missing" }).receiveOnly, false);
  });

  const cases = [
    [{ camera: "ok", microphone: "ok" }, null],
    [{ camera: "missing", microphone: "ok" }, "no-camera"],
    [{ camera: "ok", microphone: "missing" }, "no-microphone"],
    [{ camera: "missing", microphone: "missing" }, "no-devices"],
    [{ camera: "error", microphone: "missing" }, "no-devices"],
    [{ camera: "denied", microphone: "denied" }, "denied"],
    [{ camera: "busy", microphone: "ok" }, "busy"],
    [{ camera: "insecure", microphone: "insecure" }, "insecure"],
  ];
  for (const [status, code] of cases) {
    test(`${JSON.stringify(status)} is ${code}`, () => assert.equal(deviceProblem(status), code));
  }
});
