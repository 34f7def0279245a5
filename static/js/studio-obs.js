// Streaming from OBS (30 or later, service "WHIP") or another WHIP encoder: the studio shows
// the two settings to paste, the server URL and the bearer token, for the selected show.
//
// The URL is built from the public address /api/v1/config gives (api_url), not from the
// page's own origin: behind a proxy the two can differ, and an encoder runs on another
// machine. WHIP lives at the server's root, next to /api/v1, not under it.
// The token is masked until the host asks to see it (whoever has it can act as the host);
// Copy copies the real one either way.

import { getConfig, getToken } from './api.js';
import { $, clearText } from './dom.js';
import { formatDateTime, setText } from './i18n.js';
import { whipEndpoint } from './whip.js';

const COPIED_MS = 2000;
const MASK = '•'.repeat(24);

// "https://shop.example/live/api/v1" -> "https://shop.example/live".
export function serverRoot(config, fallback = location.origin) {
  const api = config && typeof config.api_url === 'string' ? config.api_url : '';
  const root = api.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return root || fallback;
}

// When a JWT stops working (its `exp`, in ms), or null if it does not say.
export function tokenExpiry(token) {
  try {
    const part = String(token).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')));
    return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

export function setupStudioObs({ getRoom }) {
  const panel = $('obs-panel');
  const server = $('obs-server');
  const token = $('obs-token');
  const reveal = $('obs-show-token');
  const status = $('obs-status');
  let root = null; // the server's public root, once the config is in
  let shown = false;
  let roomId = null; // the show the panel was last drawn for
  const timers = new Map(); // copy button -> the timer that puts its label back

  getConfig().then((config) => { root = serverRoot(config); }, () => { root = serverRoot(null); })
    .then(render);

  function render() {
    const room = getRoom();
    // An ended show cannot go live again; nor can a stream go anywhere without a token.
    const secret = getToken();
    panel.hidden = !room || room.state === 'ended' || !secret;
    if (panel.hidden) return;
    if (room.id !== roomId) {
      roomId = room.id;
      clearStatus();
    }
    // Only what changed: the page redraws on every viewer count, which would drop a selection.
    const url = `${root ?? serverRoot(null)}${whipEndpoint(room.id)}`;
    if (server.textContent !== url) server.textContent = url;
    const text = shown ? secret : MASK;
    if (token.textContent !== text) token.textContent = text;
    token.dataset.masked = String(!shown);
    reveal.setAttribute('aria-pressed', String(shown));
    setText(reveal, shown ? 'studio.obs.hide' : 'studio.obs.show');
    const expires = tokenExpiry(secret);
    if (expires) setText($('obs-token-expiry'), 'studio.obs.token_expires', { time: formatDateTime(expires) });
    else setText($('obs-token-expiry'), 'studio.obs.token_secret');
  }

  function clearStatus() {
    clearText(status);
  }

  function flash(button) {
    clearTimeout(timers.get(button));
    setText(button, 'studio.obs.copied');
    timers.set(button, setTimeout(() => setText(button, 'studio.obs.copy'), COPIED_MS));
  }

  function select(field) {
    const range = document.createRange();
    range.selectNodeContents(field);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Without the async clipboard (a plain-http page is not a secure context) the text is
  // selected, and the old copy command tried; if that fails too, Ctrl+C is one press away.
  async function copy(button, field, text, doneKey) {
    if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function') {
      try {
        await navigator.clipboard.writeText(text);
        flash(button);
        setText(status, doneKey);
        return;
      } catch { /* permission refused: select it instead */ }
    }
    if (field === token && !shown) {
      shown = true;
      render();
    }
    select(field);
    let copied = false;
    try { copied = document.execCommand('copy'); } catch { copied = false; }
    if (copied) {
      flash(button);
      setText(status, doneKey);
    } else {
      setText(status, 'studio.obs.selected');
    }
  }

  reveal.addEventListener('click', () => {
    shown = !shown;
    render();
  });
  $('obs-copy-server').addEventListener('click', (event) => {
    copy(event.currentTarget, server, server.textContent, 'studio.obs.server_copied');
  });
  $('obs-copy-token').addEventListener('click', (event) => {
    const secret = getToken();
    if (secret) copy(event.currentTarget, token, secret, 'studio.obs.token_copied');
  });
  // Hidden again when the panel closes: a token left on screen ends up in screen shares.
  panel.addEventListener('toggle', () => {
    if (!panel.open && shown) {
      shown = false;
      render();
    }
    if (!panel.open) clearStatus();
  });

  return { render };
}
