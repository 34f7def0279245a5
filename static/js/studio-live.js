// Going live from the studio: the camera preview, Go live (WHIP), Stop, and what happens in
// between (docs/protocol.md, "Video").
//
// States, shown on #preview[data-state] and in #publish-status:
//   off -> starting (asking for the camera) -> previewing -> connecting -> live
//   live -> reconnecting (the connection dropped; the page publishes again by itself) -> live
//   any -> error (the refusal's code, mapped to a sentence; the preview stays if it can)
// Publishing again replaces the server's old session for the room, so a retry after a
// network change is a plain new WHIP POST.
//
// The video codec (#video-codec): Automatic offers VP8 first, H.264 offers H.264 first (the
// server pins the first it takes). The choice is kept in localStorage "lc.video_codec" and
// applies from the next Go live; H.264 is offered only where the browser can send it.

import { getConfig, getToken } from './api.js';
import { iceServersFrom, MediaError } from './media-http.js';
import { $, clearText } from './dom.js';
import { setText } from './i18n.js';
import { canSendH264, WhipPublisher, whipEndpoint } from './whip.js';

const CODEC_KEY = 'lc.video_codec';
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;
// Chrome says "disconnected" on a short loss and usually recovers; wait this long first.
const DISCONNECT_GRACE_MS = 4000;
const CAMERA = {
  video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
  audio: { echoCancellation: true, noiseSuppression: true },
};
// Refusals that another try will not cure.
const FINAL = new Set(['forbidden', 'room_not_live', 'unauthorized', 'not_found', 'bad_sdp',
  'unsupported_codec', 'no_webrtc']);
const KNOWN_ERRORS = new Set([...FINAL, 'camera_denied', 'no_camera', 'camera_busy', 'insecure',
  'camera_lost', 'network', 'ice_failed', 'unavailable', 'rate_limited']);

// The host's codec choice: 'h264' where this browser can send it, else 'auto' (VP8).
export function storedVideoCodec(h264 = canSendH264()) {
  let stored = null;
  try { stored = localStorage.getItem(CODEC_KEY); } catch { /* storage may be blocked */ }
  return stored === 'h264' && h264 ? 'h264' : 'auto';
}

// A getUserMedia failure as one of our codes.
export function cameraErrorCode(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'camera_denied';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'no_camera';
    case 'NotReadableError':
    case 'AbortError':
      return 'camera_busy';
    default:
      return (err && err.code) || 'camera_busy';
  }
}

export function setupStudioLive({ getRoom, onPublished }) {
  const preview = $('preview');
  const video = $('preview-video');
  const status = $('publish-status');
  const codecField = $('video-codec-field');
  const codecSelect = $('video-codec');
  const h264 = canSendH264();
  const live = {
    state: 'off',
    error: null, // our code while state is 'error'
    stream: null, // the camera
    publisher: null,
    roomId: null, // the room being published to
    attempt: 0,
  };
  let retryTimer = null;
  let graceTimer = null;

  function setState(state, error = null) {
    live.state = state;
    live.error = error;
    render();
  }

  // ---- rendering -------------------------------------------------------------------------

  function render() {
    const room = getRoom();
    const ended = !room || room.state === 'ended';
    const publishing = ['connecting', 'live', 'reconnecting'].includes(live.state);
    preview.dataset.state = live.state;
    preview.classList.toggle('has-camera', Boolean(live.stream));
    $('camera-on').hidden = Boolean(live.stream) || live.state === 'starting' || ended;
    $('camera-off').hidden = !live.stream || publishing;
    $('on-air').hidden = live.state !== 'live';
    const goLive = $('go-live');
    goLive.hidden = ended || publishing;
    goLive.disabled = ended || live.state === 'starting';
    $('stop-live').hidden = !publishing;
    // Nothing to choose without H.264; the codec is fixed while the stream runs.
    codecField.hidden = ended || !h264;
    codecSelect.disabled = publishing;
    const key = statusKey();
    if (key) {
      setText(status, key, live.state === 'error' && !KNOWN_ERRORS.has(live.error) ? { code: live.error } : undefined);
    } else {
      clearText(status);
    }
    status.classList.toggle('error', live.state === 'error' || live.state === 'reconnecting');
    status.classList.toggle('ok', live.state === 'live');
  }

  function statusKey() {
    switch (live.state) {
      case 'starting': return 'studio.live.starting';
      case 'previewing': return 'studio.live.previewing';
      case 'connecting': return 'studio.live.connecting';
      case 'live': return 'studio.live.live';
      case 'reconnecting': return 'studio.live.reconnecting';
      case 'error': return KNOWN_ERRORS.has(live.error) ? `studio.live.error.${live.error}` : 'studio.live.error.other';
      default: return null;
    }
  }

  // ---- the camera ------------------------------------------------------------------------

  async function cameraOn() {
    if (live.stream) return live.stream;
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== 'function') {
      throw new MediaError(window.isSecureContext ? 'no_camera' : 'insecure');
    }
    setState('starting');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(CAMERA);
    } catch (err) {
      throw new MediaError(cameraErrorCode(err), { message: String((err && err.message) || err) });
    }
    live.stream = stream;
    video.srcObject = stream;
    video.play().catch(() => { /* muted preview: plays when the page is shown */ });
    for (const track of stream.getTracks()) {
      track.addEventListener('ended', () => {
        if (live.stream !== stream) return;
        // The camera was unplugged or taken away: nothing left to send.
        stopPublishing();
        cameraOff();
        setState('error', 'camera_lost');
      });
    }
    return stream;
  }

  function cameraOff() {
    const stream = live.stream;
    live.stream = null;
    video.srcObject = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
  }

  async function turnCameraOn() {
    try {
      await cameraOn();
      setState('previewing');
    } catch (err) {
      setState('error', err.code || 'camera_busy');
    }
  }

  // ---- publishing ------------------------------------------------------------------------

  function stopPublishing({ keepalive = false, reason = null } = {}) {
    clearTimeout(retryTimer);
    clearTimeout(graceTimer);
    const publisher = live.publisher;
    live.publisher = null;
    live.roomId = null;
    live.attempt = 0;
    return publisher ? publisher.stop({ keepalive, reason }) : Promise.resolve();
  }

  async function publish(roomId) {
    let config = null;
    try { config = await getConfig(); } catch { config = null; }
    if (live.roomId !== roomId) return;
    const publisher = new WhipPublisher(whipEndpoint(roomId), {
      token: getToken(),
      iceServers: iceServersFrom(config),
      videoCodec: codecSelect.value === 'h264' && h264 ? 'h264' : 'vp8',
    });
    live.publisher = publisher;
    publisher.addEventListener('state', ({ detail }) => {
      if (live.publisher !== publisher) return;
      onConnectionState(detail.state);
    });
    try {
      await publisher.start(live.stream);
    } catch (err) {
      if (live.publisher !== publisher) return;
      live.publisher = null;
      publishFailed(err.code || 'network', err.retryAfter);
      return;
    }
    if (live.publisher !== publisher) return;
    if (onPublished) onPublished(roomId);
  }

  function onConnectionState(state) {
    clearTimeout(graceTimer);
    if (state === 'connected') {
      live.attempt = 0;
      setState('live');
    } else if (state === 'disconnected') {
      if (live.state === 'live') setState('reconnecting');
      graceTimer = setTimeout(() => publishFailed('ice_failed'), DISCONNECT_GRACE_MS);
    } else if (state === 'failed') {
      publishFailed('ice_failed');
    }
  }

  // Final refusals stop; anything else is tried again with a growing wait.
  function publishFailed(code, retryAfter = null) {
    const roomId = live.roomId;
    const publisher = live.publisher;
    live.publisher = null;
    if (publisher) publisher.stop();
    clearTimeout(retryTimer);
    clearTimeout(graceTimer);
    if (!roomId || FINAL.has(code) || !live.stream) {
      live.roomId = null;
      live.attempt = 0;
      setState('error', code);
      return;
    }
    const backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** live.attempt);
    const delay = retryAfter != null ? Math.max(Number(retryAfter) * 1000, RETRY_MIN_MS) : backoff;
    live.attempt += 1;
    setState('reconnecting');
    retryTimer = setTimeout(() => {
      if (live.roomId === roomId) publish(roomId);
    }, delay);
  }

  async function goLive() {
    const room = getRoom();
    if (!room || room.state === 'ended') return;
    try {
      await cameraOn();
    } catch (err) {
      setState('error', err.code || 'camera_busy');
      return;
    }
    await stopPublishing();
    live.roomId = room.id;
    setState('connecting');
    await publish(room.id);
  }

  async function stop() {
    await stopPublishing();
    cameraOff();
    setState('off');
  }

  $('camera-on').addEventListener('click', turnCameraOn);
  $('camera-off').addEventListener('click', () => {
    cameraOff();
    setState('off');
  });
  $('go-live').addEventListener('click', goLive);
  if (!h264) codecSelect.querySelector('option[value="h264"]').remove();
  codecSelect.value = storedVideoCodec(h264);
  codecSelect.addEventListener('change', () => {
    try { localStorage.setItem(CODEC_KEY, codecSelect.value); } catch { /* ignore */ }
  });
  $('stop-live').addEventListener('click', stop);
  // Tell the server at once when the studio goes away, rather than when the connection
  // times out; the request outlives the page. The host is "leaving", not stopping: viewers
  // see the host reconnecting (a reload is back in seconds), not the show's video over.
  window.addEventListener('pagehide', () => { stopPublishing({ keepalive: true, reason: 'leaving' }); });

  return {
    render,
    // The host chose another show (or none): what went to the old one stops; the camera
    // stays on, it belongs to the page.
    async roomChanged(room) {
      if (live.roomId && (!room || room.id !== live.roomId)) {
        await stopPublishing();
        setState(live.stream ? 'previewing' : 'off');
      } else if (live.state === 'error' && !live.stream) {
        setState('off');
      }
      render();
    },
    // Before the show ends: stop sending, turn the camera off.
    stop,
    publishing: () => live.roomId != null,
  };
}
