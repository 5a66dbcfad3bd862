// Docs: docs/live.md#media — audio retransmission on the way down (issue 12, item 2). Janus
// 1.1.2's VideoRoom has no Opus RED, and the publisher's Opus FEC follows the loss of the
// publisher's own (clean) leg, so a site's lossy downlink gets no redundancy. Janus keeps
// what it sends for retransmission per m-line once the peer's SDP lists `rtcp-fb … nack`
// there, and Chromium's audio receiver asks for lost packets (NetEq's NACK list) once the
// negotiated Opus lists it; neither side offers it for audio by default. `withAudioNack`
// adds it to the audio sections of the subscriber's offer from Janus and of the page's
// answer. Pure (tests/js/sdp.test.mjs).

const RTPMAP = /^a=rtpmap:(\d+) opus\/48000/i;

// `sdp`: an SDP text (lines ending in \r\n). Returns it with `a=rtcp-fb:<pt> nack` after the
// rtpmap of every Opus payload type of every audio section that lacks it.
export function withAudioNack(sdp) {
  if (typeof sdp !== "string" || !sdp) return sdp;
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const lines = sdp.split(eol);
  const out = [];
  let audio = false;
  let section = [];
  const flush = () => {
    if (audio) {
      for (const line of section) {
        out.push(line);
        const opus = RTPMAP.exec(line);
        if (opus && !section.includes(`a=rtcp-fb:${opus[1]} nack`)) out.push(`a=rtcp-fb:${opus[1]} nack`);
      }
    } else out.push(...section);
    section = [];
  };
  for (const line of lines) {
    if (line.startsWith("m=")) {
      flush();
      audio = line.startsWith("m=audio");
    }
    section.push(line);
  }
  flush();
  return out.join(eol);
}
