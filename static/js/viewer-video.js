// The viewer page's video: the live stream over WHEP while the show is live, its replay once
// it has ended, and the sound button (docs/protocol.md, "Video").
//
// The room says what its stream does (`room.stream` in welcome, then `stream.state` events):
//   live         -> play it (a WHEP session, opened once and kept)
//   reconnecting -> the host dropped: keep the session, show "Reconnecting…"; the server
//                   keeps our connection and frames flow again when the host is back
//   offline      -> nothing to play: show so, and open a session when it says live again
// When our own connection fails, WHEP is asked again with a growing wait. The video starts
// muted (browsers let only muted video play by itself) with a visible "Tap to unmute".

import { getConfig } from './api.js';
import { $ } from './dom.js';
import { setText } from './i18n.js';
import { iceServersFrom } from './media-http.js';
import { setupReplay } from './viewer-replay.js';
import { WhepPlayer, whepEndpoint } from './whep.js';

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;
const DISCONNECT_GRACE_MS = 5000;
// Refusals another try will not cure (this browser's offer is the problem, or no such room).
const FINAL = new Set(['bad_sdp', 'unsupported_codec', 'not_found', 'no_webrtc', 'forbidden']);

export function setupViewerVideo({ roomId, getToken, onReplayPin, getReplayLots }) {
  const video = $('video');
  const body = document.body;
  const view = {
    room: null,
    stream: undefined, // the server's word: live | reconnecting | offline (undefined: not told)
    phase: 'idle', // idle | connecting | playing | retrying | offline | error | replay
    error: null,
    player: null,
    attempt: 0,
  };
  let retryTimer = null;
  let graceTimer = null;

  const replay = setupReplay({
    roomId,
    video,
    onPin: onReplayPin,
    onChange: () => render(),
    getLots: getReplayLots,
  });

  // ---- what the room says ------------------------------------------------------------------

  function wantLive() {
    return Boolean(view.room) && view.room.state === 'live' && view.stream !== 'offline';
  }

  function update() {
    if (view.room && view.room.state === 'ended') {
      stopLive({ quiet: true });
      view.phase = 'replay';
      replay.start();
    } else if (wantLive()) {
      if (!view.player && !retryTimer) startLive();
    } else {
      // Offline (or not started): the server ends its viewers' sessions by itself.
      stopLive({ quiet: true });
      view.phase = view.room && view.room.state === 'live' ? 'offline' : 'idle';
    }
    render();
  }

  // ---- the live session ----------------------------------------------------------------------

  async function startLive() {
    clearTimeout(retryTimer);
    retryTimer = null;
    let config = null;
    try { config = await getConfig(); } catch { config = null; }
    if (!wantLive() || view.player) return;
    const player = new WhepPlayer(whepEndpoint(roomId), {
      token: getToken(), iceServers: iceServersFrom(config),
    });
    view.player = player;
    view.phase = 'connecting';
    render();
    player.addEventListener('state', ({ detail }) => {
      if (view.player === player) onConnection(detail.state);
    });
    let stream;
    try {
      stream = await player.start();
    } catch (err) {
      if (view.player !== player) return;
      view.player = null;
      failed(err.code || 'network', err.retryAfter);
      return;
    }
    if (view.player !== player) return;
    video.removeAttribute('src');
    video.srcObject = stream;
    play();
  }

  function stopLive({ quiet = false, keepalive = false } = {}) {
    clearTimeout(retryTimer);
    clearTimeout(graceTimer);
    retryTimer = null;
    const player = view.player;
    view.player = null;
    if (player) {
      player.stop({ quiet, keepalive });
      if (video.srcObject) video.srcObject = null;
      body.dataset.video = '';
    }
  }

  function onConnection(state) {
    clearTimeout(graceTimer);
    if (state === 'connected') {
      view.attempt = 0;
      if (view.phase !== 'playing') view.phase = 'connecting';
    } else if (state === 'disconnected') {
      view.phase = 'retrying';
      graceTimer = setTimeout(() => failed('ice_failed'), DISCONNECT_GRACE_MS);
    } else if (state === 'failed') {
      // ("closed" is only ever our own doing.)
      failed('ice_failed');
      return;
    }
    render();
  }

  function failed(code, retryAfter = null) {
    const player = view.player;
    view.player = null;
    if (player) player.stop();
    clearTimeout(graceTimer);
    clearTimeout(retryTimer);
    retryTimer = null;
    if (FINAL.has(code)) {
      view.phase = 'error';
      view.error = code;
      render();
      return;
    }
    if (code === 'room_not_live' && view.stream === 'offline') {
      // The room will say when its stream is live; that opens the next session. (When it
      // says live but WHEP says not yet, the two crossed: try again shortly.)
      update();
      return;
    }
    const backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** view.attempt);
    const delay = retryAfter != null ? Math.max(Number(retryAfter) * 1000, RETRY_MIN_MS)
      : backoff / 2 + Math.random() * backoff / 2;
    view.attempt += 1;
    view.phase = 'retrying';
    retryTimer = setTimeout(() => {
      retryTimer = null;
      if (wantLive()) startLive();
      else update();
    }, delay);
    render();
  }

  // ---- playing and sound --------------------------------------------------------------------

  function play() {
    video.play().then(render, () => {
      // Not even muted video may start by itself here (a power saver): a tap starts it.
      render();
    });
  }

  async function toggleSound() {
    // A live video that could not start by itself starts with sound on the tap; a paused
    // replay stays paused (its own button plays it).
    if (video.paused && view.phase !== 'replay') {
      video.muted = false;
      try {
        await video.play();
      } catch {
        video.muted = true;
        play();
      }
    } else {
      video.muted = !video.muted;
    }
    render();
  }

  function hasPicture() {
    return Boolean(video.srcObject || video.getAttribute('src'));
  }

  // ---- rendering ---------------------------------------------------------------------------

  function streamShown() {
    if (view.phase === 'replay') return 'replay';
    if (view.phase === 'error') return 'error';
    if (!view.room || view.room.state !== 'live') return 'none';
    if (view.stream === 'offline' || view.phase === 'offline') return 'offline';
    if (view.stream === 'reconnecting' || view.phase === 'retrying') return 'reconnecting';
    if (view.phase === 'connecting' && body.dataset.video !== 'playing') return 'connecting';
    return 'live';
  }

  function render() {
    const shown = streamShown();
    body.dataset.stream = shown;
    // Over the picture: a wait that ends by itself. On the title card: no picture to come.
    const status = $('stream-status');
    // The server saying "reconnecting" is the host away (a dropped link, a reloaded studio);
    // our own retry is ours.
    const reconnecting = view.stream === 'reconnecting' ? 'viewer.stream.host_reconnecting' : 'viewer.stream.reconnecting';
    const overKey = { reconnecting, connecting: 'viewer.stream.connecting' }[shown];
    status.dataset.kind = shown;
    status.hidden = !overKey;
    if (overKey) setText($('stream-status-text'), overKey);
    const note = $('stream-note');
    const unsupported = view.error === 'unsupported_codec' || view.error === 'no_webrtc';
    const noteKey = {
      offline: 'viewer.stream.offline',
      error: unsupported ? 'viewer.stream.error.unsupported' : 'viewer.stream.error.other',
    }[shown];
    note.hidden = !noteKey;
    if (noteKey) setText(note, noteKey);
    else note.textContent = '';
    $('replay-badge').hidden = shown !== 'replay' || replay.state !== 'ready';

    const sound = $('sound-button');
    const playable = hasPicture() && (shown === 'live' || shown === 'reconnecting' || shown === 'replay'
      || (shown === 'connecting' && video.srcObject));
    sound.hidden = !playable;
    const blocked = video.paused && playable && shown !== 'replay';
    const muted = video.muted || blocked;
    sound.dataset.muted = muted ? 'true' : 'false';
    setText($('sound-label'), blocked ? 'viewer.video.tap_to_play' : muted ? 'viewer.video.unmute' : 'viewer.video.mute');
  }

  video.addEventListener('playing', () => {
    body.dataset.video = 'playing';
    if (view.phase === 'connecting') view.phase = 'playing';
    render();
  });
  video.addEventListener('emptied', () => {
    if (!hasPicture()) body.dataset.video = '';
    render();
  });
  for (const type of ['pause', 'volumechange']) video.addEventListener(type, render);
  $('sound-button').addEventListener('click', toggleSound);
  window.addEventListener('lc:languagechange', render);
  // Tell the server at once that this viewer left; the request outlives the page.
  window.addEventListener('pagehide', () => stopLive({ keepalive: true }));

  return {
    // The room (from the API, welcome or room.state); `stream` when the server sends it.
    setRoom(room) {
      view.room = room;
      if (room && typeof room.stream === 'string') view.stream = room.stream;
      update();
    },
    setStream(state) {
      view.stream = state;
      if (state === 'live' && view.phase === 'retrying' && !view.player) {
        // Waiting out a backoff for a stream that is back: go now.
        view.attempt = 0;
        clearTimeout(retryTimer);
        retryTimer = null;
      }
      update();
    },
    replayReady() {
      replay.refresh();
    },
  };
}
