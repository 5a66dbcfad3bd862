// Docs: docs/live.md#media-policy — what each page subscribes to. The server decides the
// state (main source, floor, open mics); this module only reads it. Mirrors
// diemcau/live/media_policy.py.

export const CAMERA = 1;
export const SCREEN = 2;

// Feed ids are random, issued by the server to each connection (docs/live.md#feeds): the
// state names a site's camera once the server has applied its mute to it (`feeds`), and
// the shared screen's feed with the share. null: nothing to subscribe to (yet).
export function feedOf(state, siteId, slot = CAMERA) {
  if (!state || siteId == null) return null;
  if (slot === SCREEN) return state.screen && state.screen.site === siteId ? state.screen.feed ?? null : null;
  return state.feeds?.[String(siteId)] ?? null;
}

// Returns Map feed -> {audio, video, substream (0 lowest .. 2 highest simulcast layer)}.
export function wanted(state, you, { enlarged = null } = {}) {
  const want = new Map();
  if (!state) return want;
  const open = new Set(state.mics?.open || []);
  const add = (siteId, { substream = 0, video = true, slot = CAMERA } = {}) => {
    if (siteId == null || (siteId === you.site && slot === CAMERA)) return;
    if (siteId === you.site && slot === SCREEN) return;
    const feed = feedOf(state, siteId, slot);
    if (feed == null) return;
    const prev = want.get(feed) || { audio: false, video: false, substream: 0 };
    want.set(feed, {
      audio: prev.audio || (slot === CAMERA && open.has(siteId)),
      video: prev.video || video,
      substream: Math.max(prev.substream, video ? substream : 0),
    });
  };
  if (you.hq) {
    // The video wall: every site at the lowest layer, the enlarged one and the floor sharp.
    for (const site of state.sites || []) add(site.id, { substream: site.id === enlarged ? 2 : 0 });
    if (state.floor) add(state.floor.site, { substream: 2 });
  } else {
    add(state.main_source, { substream: 2 });
    if (state.floor) add(state.floor.site, { substream: 2 });
  }
  if (state.screen) add(state.screen.site, { substream: 2, slot: SCREEN });
  // Open microphones are heard even when not on screen (an open discussion).
  for (const siteId of open) add(siteId, { video: false });
  return want;
}
