// Docs: docs/live.md#media — static/live/problems.js: every media problem has a title, what
// it means and what to do, with the server's own addresses and ports. Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CODES, explain, mediaBadge, pageProblem, problemContext, tileBadge } from "../../src/diemcau/live/static/live/problems.js";

// Django's JavaScript catalog (views/templates/i18n_catalog.js), untranslated.
globalThis.gettext = (s) => s;
globalThis.interpolate = (fmt, obj, named) =>
  named
    ? fmt.replace(/%\(\w+\)s/g, (match) => String(obj[match.slice(2, -2)]))
    : fmt.replace(/%s/g, () => String(obj.shift()));

const ctx = {
  httpsUrl: "https://10.20.0.5:8443/join/7/CSDN/tok/",
  caUrl: "http://10.20.0.5/ca/",
  host: "media.example.vn:8443",
  httpsPort: 8443,
  mediaIp: "10.20.0.5",
  rtpPorts: "40000-40999",
};

describe("explain", () => {
  for (const hq of [false, true]) {
    for (const code of [...CODES, "something-else"]) {
      test(`${code}${hq ? " (HQ)" : ""} has a title, what and todo`, () => {
        const p = explain(code, { ...ctx, hq });
        for (const key of ["title", "what", "todo"]) {
          assert.equal(typeof p[key], "string", key);
          assert.ok(p[key].trim().length > 0, key);
          assert.doesNotMatch(p[key], /%\(|%s/, `${key} is fully interpolated`);
        }
        assert.ok(["info", "warn", "bad"].includes(p.level));
      });
    }
  }

  test("insecure: the secure address and the CA page", () => {
    const p = explain("insecure", ctx);
    assert.match(p.todo, /https:\/\/10\.20\.0\.5:8443\/join\/7\/CSDN\/tok\//);
    assert.ok(p.todo.includes(ctx.caUrl));
  });

  test("ws: the server and its HTTPS port", () => {
    for (const hq of [false, true]) {
      const p = explain("ws", { ...ctx, hq });
      const text = `${p.what} ${p.todo}`;
      assert.ok(text.includes("media.example.vn:8443"));
      assert.ok(p.todo.includes("TCP port 8443"));
    }
  });

  test("ice: UDP to the media address and the RTP ports", () => {
    for (const hq of [false, true]) {
      const p = explain("ice", { ...ctx, hq });
      assert.ok(p.todo.includes("UDP"));
      assert.ok(p.todo.includes("10.20.0.5"));
      assert.ok(p.todo.includes("40000-40999"));
    }
  });

  test("ice with a TURN relay: TCP to its ports is the way out of a UDP-blocking network", () => {
    const p = explain("ice", { ...ctx, host: "10.20.0.5", turnPorts: "3478, 5349" });
    assert.ok(p.todo.includes("40000-40999"));
    assert.ok(p.todo.includes("TCP"));
    assert.ok(p.todo.includes("3478, 5349"));
    assert.ok(!explain("ice", ctx).todo.includes("3478"));
  });

  test("device problems point at the button", () => {
    for (const code of ["no-camera", "no-microphone", "no-devices", "denied", "busy"]) {
      assert.ok(explain(code, ctx).todo.includes("Try camera and microphone again"), code);
    }
  });

  test("HQ without a camera: one calm notice", () => {
    for (const code of ["no-devices", "no-camera"]) {
      const p = explain(code, { ...ctx, hq: true });
      assert.equal(p.level, "info");
      assert.equal(p.title, "No camera on this PC");
      assert.match(p.what, /watch and run the meeting; sites do not see HQ's picture/);
    }
  });

  test("a receive-only site is told what it still can do", () => {
    const p = explain("no-devices", ctx);
    assert.match(p.what, /roll call/);
    assert.match(p.what, /vote/);
  });
});

describe("pageProblem", () => {
  const missing = { camera: "missing", microphone: "missing", receiveOnly: true };
  test("not on https first", () => assert.equal(pageProblem({ secure: false, problem: "ws", status: missing }), "insecure"));
  test("then the network", () => {
    assert.equal(pageProblem({ problem: "ws", status: missing }), "ws");
    assert.equal(pageProblem({ problem: "ice", status: missing }), "ice");
  });
  test("then the devices", () => assert.equal(pageProblem({ status: missing }), "no-devices"));
  test("nothing to say", () => {
    assert.equal(pageProblem({ status: { camera: "ok", microphone: "ok", receiveOnly: false } }), null);
    assert.equal(pageProblem({}), null);
  });
});

describe("tileBadge", () => {
  const base = { camera: "ok", microphone: "ok", receive_only: false, problem: null };
  const cases = [
    [null, "unknown", ""],
    [base, "ok", ""],
    [{ ...base, camera: "missing" }, "no-camera", "no camera"],
    [{ ...base, microphone: "missing" }, "no-microphone", "no microphone"],
    [{ camera: "missing", microphone: "missing", receive_only: true, problem: null }, "receive-only", "receive only (no camera or microphone)"],
    [{ ...base, camera: "denied" }, "denied", "camera blocked"],
    [{ ...base, problem: "ws" }, "ws", "media server unreachable"],
    [{ camera: "missing", microphone: "missing", receive_only: true, problem: "ice" }, "ice", "UDP blocked"],
  ];
  for (const [status, code, text] of cases) {
    test(`${JSON.stringify(status)} → ${code}`, () => assert.deepEqual(tileBadge(status), { code, text }));
  }
});

describe("mediaBadge", () => {
  const ok = { camera: "ok", microphone: "ok", receiveOnly: false };
  const cases = [
    [{ failure: "ice", media: {}, status: ok }, {}, "UDP blocked", "bad"],
    [{ failure: "ws", media: {}, status: ok }, {}, "unreachable", "bad"],
    [{ media: null }, { secure: false }, "not on the secure address", "wait"],
    [{ media: {}, status: { ...ok, camera: "missing", microphone: "missing", receiveOnly: true } }, {}, "no camera or microphone", "warn"],
    [{ media: {}, status: { ...ok, camera: "missing", microphone: "missing", receiveOnly: true } }, { hq: true }, "no camera on this PC", "wait"],
    [{ media: { publishedUp: true }, status: { ...ok, camera: "missing" } }, {}, "sound only", "good"],
    [{ media: { publishedUp: true }, status: ok }, {}, "picture and sound", "good"],
  ];
  for (const [keeper, opts, words, kind] of cases) {
    test(`${words} (${kind})`, () => {
      const [text, k] = mediaBadge(keeper, opts);
      assert.ok(text.includes(words), text);
      assert.equal(k, kind);
    });
  }
  test("never blank", () => {
    for (const [keeper, opts] of cases) assert.ok(mediaBadge(keeper, opts)[0].trim().length > 0);
  });
});

describe("problemContext", () => {
  const config = { https_url: "https://10.0.0.5/", ca_url: "http://10.0.0.5/ca/", https_port: 443, media_ip: "10.0.0.5", rtp_ports: "20000-40000" };
  const loc = { host: "10.0.0.5", protocol: "https:" };
  test("a relative Janus address is the page's own host", () => {
    assert.equal(problemContext(config, { janus_url: "/janus" }, { loc }).host, "10.0.0.5");
  });
  test("an external Janus is named by its host", () => {
    assert.equal(problemContext(config, { janus_url: "wss://media.example.vn:8989/janus" }, { loc }).host, "media.example.vn:8989");
  });
  test("the server's ports and addresses are passed through", () => {
    const c = problemContext(config, null, { hq: true, loc });
    assert.deepEqual([c.rtpPorts, c.mediaIp, c.httpsPort, c.caUrl, c.hq], ["20000-40000", "10.0.0.5", 443, "http://10.0.0.5/ca/", true]);
  });
});
