// Docs: docs/live.md#media — static/live/sdp.js: audio NACK negotiated on the subscriber's
// audio sections, nothing else touched.
// Run: node --test tests/js/

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { withAudioNack } from "../../src/diemcau/live/static/live/sdp.js";

const OFFER = [
  "v=0",
  "o=- 1 1 IN IP4 10.0.0.1",
  "s=VideoRoom 1234",
  "t=0 0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=mid:a0",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 useinbandfec=1",
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
  "a=mid:v1",
  "a=rtpmap:96 VP8/90000",
  "a=rtcp-fb:96 nack",
  "a=rtpmap:97 rtx/90000",
  "m=audio 9 UDP/TLS/RTP/SAVPF 109",
  "a=mid:a2",
  "a=rtpmap:109 OPUS/48000/2",
  "",
].join("\r\n");

describe("withAudioNack", () => {
  test("each audio section's Opus gets nack right after its rtpmap", () => {
    const lines = withAudioNack(OFFER).split("\r\n");
    assert.equal(lines[lines.indexOf("a=rtpmap:111 opus/48000/2") + 1], "a=rtcp-fb:111 nack");
    assert.equal(lines[lines.indexOf("a=rtpmap:109 OPUS/48000/2") + 1], "a=rtcp-fb:109 nack");
  });

  test("video sections and everything else are left as they were", () => {
    const added = withAudioNack(OFFER).split("\r\n").filter((l) => !OFFER.split("\r\n").includes(l));
    assert.deepEqual(added, ["a=rtcp-fb:111 nack", "a=rtcp-fb:109 nack"]);
    assert.ok(withAudioNack(OFFER).endsWith("\r\n"));
  });

  test("a section that has it already is not given it twice", () => {
    const once = withAudioNack(OFFER);
    assert.equal(withAudioNack(once), once);
  });

  test("an audio section without Opus, and no SDP at all, are left alone", () => {
    const pcmu = "v=0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    assert.equal(withAudioNack(pcmu), pcmu);
    assert.equal(withAudioNack(""), "");
    assert.equal(withAudioNack(undefined), undefined);
  });

  test("line ends of a text with bare newlines are kept", () => {
    const bare = OFFER.replaceAll("\r\n", "\n");
    assert.ok(!withAudioNack(bare).includes("\r"));
    assert.ok(withAudioNack(bare).includes("a=rtpmap:111 opus/48000/2\na=rtcp-fb:111 nack\n"));
  });
});
