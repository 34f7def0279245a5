// The room socket client (docs/protocol.md, "The room gateway").
//
// Dispatches one event per server message, named by its `type` ("welcome", "chat.message",
// ...), with the message as `event.detail`; plus "status" ({state, code?, reason?}) when the
// connection goes up or down. Before dispatching, the message is folded into `roomState`
// (room-state.js), so listeners render from the room as it is after the event. Room events
// carry `seq`: the state keeps the last one and the `epoch` from `welcome`, repeats are
// dropped, and after a drop or a gap the client resumes with `since`/`epoch` so the server
// sends what was missed (or a fresh `welcome`).

import { getConfig } from './api.js';
import { initialState, isSequenced, reduce, sequence } from './room-state.js';

export const SUBPROTOCOL = 'livecommerce.json';
// 1011 is also what a missed keepalive gets (a throttled tab); 1013 is "try again later".
const RECONNECT_CODES = new Set([1001, 1006, 1011, 1012, 1013]);
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const PING_EVERY_MS = 25000;
const REQUEST_TIMEOUT_MS = 10000;

export function shouldReconnect(code) {
  return RECONNECT_CODES.has(code) || (code >= 4000 && code <= 4399);
}

// A guest page's own random id, kept across reloads: the show's results count a guest who
// comes back as one viewer (the server counts each socket as one when there is none).
const VISITOR_KEY = 'lc:visitor';

export function visitorId() {
  let id = null;
  try {
    id = localStorage.getItem(VISITOR_KEY);
  } catch (err) {
    id = null;
  }
  if (id && /^[A-Za-z0-9_-]{8,64}$/.test(id)) return id;
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    localStorage.setItem(VISITOR_KEY, id);
  } catch (err) {
    // private mode: this page's visits count as one each
  }
  return id;
}

function wsBase(wsUrl) {
  if (!wsUrl) {
    return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
  }
  // A relative or http(s) URL from the config is resolved against the page.
  const url = new URL(wsUrl, location.href);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.href.replace(/\/+$/, '');
}

// Reads a delay hint from a close reason such as "overloaded; retry_after_ms=3000" or JSON.
function delayFromReason(reason) {
  if (!reason) return null;
  try {
    const data = JSON.parse(reason);
    if (data && data.retry_after_ms != null) return Number(data.retry_after_ms);
    if (data && data.retry_after != null) return Number(data.retry_after) * 1000;
  } catch { /* not JSON */ }
  const ms = /retry_after_ms[=:]\s*(\d+)/.exec(reason);
  if (ms) return Number(ms[1]);
  const s = /retry_after[=:]\s*([\d.]+)/.exec(reason);
  if (s) return Number(s[1]) * 1000;
  return null;
}

export class RoomClient extends EventTarget {
  // `state`: the room as the page knew it before joining (read over HTTP), if at all.
  constructor(roomId, { token = null, state = initialState() } = {}) {
    super();
    this.roomId = roomId;
    this.token = token;
    this.roomState = state;
    this.state = 'idle'; // idle | connecting | open | reconnecting | closed
    this.ws = null;
    this.attempt = 0;
    this.nextRef = 1;
    this.pending = new Map(); // ref -> {resolve, reject, timer}
    this.retryTimer = null;
    this.pingTimer = null;
    this.serverOffsetMs = 0; // server_time - Date.now(), from welcome and pong
    this.retryHintMs = null; // from an `error` with retry_after sent just before a close
    this.stopped = false;
  }

  // Connect (or reconnect afresh with another token: a new welcome replaces the state).
  async connect({ token = this.token, fresh = false } = {}) {
    this.token = token;
    this.stopped = false;
    if (fresh) this.roomState = { ...this.roomState, seq: null, epoch: null };
    this._teardown(1000, 'client reconnects');
    this._setState(this.attempt ? 'reconnecting' : 'connecting');
    let config;
    try {
      config = await getConfig();
    } catch (err) {
      this._scheduleRetry(null);
      return;
    }
    if (this.stopped) return;
    const params = new URLSearchParams();
    if (this.token) params.set('token', this.token);
    else params.set('visitor', visitorId());
    if (this.seq != null) params.set('since', String(this.seq));
    if (this.epoch != null) params.set('epoch', String(this.epoch));
    const query = params.toString();
    const url = `${wsBase(config.ws_url)}/ws/rooms/${encodeURIComponent(this.roomId)}${query ? `?${query}` : ''}`;
    let ws;
    try {
      ws = new WebSocket(url, SUBPROTOCOL);
    } catch (err) {
      this._scheduleRetry(null);
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      this._setState('open');
      this._startPing();
    });
    ws.addEventListener('message', (event) => {
      if (this.ws !== ws) return;
      this._onFrame(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._stopPing();
      this._failPending('disconnected');
      if (!this.stopped && shouldReconnect(event.code)) {
        this._setState('reconnecting', { code: event.code, reason: event.reason });
        this._scheduleRetry(delayFromReason(event.reason) ?? this.retryHintMs);
        this.retryHintMs = null;
      } else {
        this._setState('closed', { code: event.code, reason: event.reason });
      }
    });
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this._teardown(1000, 'bye');
    this._setState('closed', { code: 1000, reason: 'client closed' });
  }

  // Fire and forget; returns the ref used.
  send(type, fields = {}) {
    const ref = this.nextRef++;
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return null;
    this.ws.send(JSON.stringify({ type, ref, ...fields }));
    return ref;
  }

  // Sends a command and resolves with its `ack` (or any reply with its ref); rejects with the
  // `error` event (an Error with .code, .retryAfter and .event). With `quiet`, the caller shows
  // the refusal itself: the "error" event for it carries `handled: true` so that page-wide
  // error notices can skip it.
  request(type, fields = {}, { timeoutMs = REQUEST_TIMEOUT_MS, quiet = false } = {}) {
    return new Promise((resolve, reject) => {
      const ref = this.send(type, fields);
      if (ref == null) {
        reject(Object.assign(new Error('not connected'), { code: 'disconnected' }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(Object.assign(new Error('timeout'), { code: 'timeout' }));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer, quiet });
    });
  }

  serverNow() {
    return Date.now() + this.serverOffsetMs;
  }

  // The last room event seen, and the history's epoch: what a resume names.
  get seq() {
    return this.roomState.seq;
  }

  get epoch() {
    return this.roomState.epoch;
  }

  // Folds a fact the page learnt itself (an event without seq, see room-state.js) into the
  // room's state; nothing is dispatched.
  apply(event) {
    this.roomState = reduce(this.roomState, event);
    return this.roomState;
  }

  // ---- internals -----------------------------------------------------------------------

  _setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('status', { detail: { state, ...extra } }));
  }

  _teardown(code, reason) {
    this._stopPing();
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
      try { ws.close(code, reason); } catch { /* ignore */ }
    }
    this._failPending('disconnected');
  }

  _scheduleRetry(hintMs) {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const jittered = backoff / 2 + Math.random() * backoff / 2;
    // A server's hint (overloaded, 4003) is honoured with jitter of our own on top, up to half
    // again: a crowd turned away at once must not come back at once.
    const delay = hintMs != null && hintMs >= 0
      ? Math.max(hintMs + Math.random() * hintMs / 2, 100)
      : jittered;
    this.attempt += 1;
    this._setState('reconnecting', { delayMs: delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  _startPing() {
    this._stopPing();
    this.pingTimer = setInterval(() => this.send('ping'), PING_EVERY_MS);
  }

  _stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  _failPending(code) {
    for (const [ref, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error(code), { code }));
      this.pending.delete(ref);
    }
  }

  _onFrame(data) {
    let value;
    try {
      value = JSON.parse(data);
    } catch {
      console.warn('livecommerce: unreadable frame');
      return;
    }
    const messages = Array.isArray(value) ? value : [value];
    for (const msg of messages) {
      if (msg && typeof msg === 'object' && typeof msg.type === 'string') this._onMessage(msg);
    }
  }

  _onMessage(msg) {
    switch (msg.type) {
      case 'welcome':
        this.attempt = 0;
        this.retryHintMs = null;
        if (msg.server_time != null) this.serverOffsetMs = msg.server_time - Date.now();
        break;
      case 'pong':
        if (msg.server_time != null) this.serverOffsetMs = msg.server_time - Date.now();
        break;
      case 'error':
        // A refusal to join (overloaded, ...) comes as an error and then a close: its
        // retry_after sets the delay before the next try.
        if (msg.ref == null && msg.retry_after != null) this.retryHintMs = Number(msg.retry_after) * 1000;
        break;
      case 'reconnect': {
        this.dispatchEvent(new CustomEvent(msg.type, { detail: msg }));
        const delay = Number(msg.retry_after_ms ?? 0);
        this._teardown(1000, 'reconnect requested');
        this._setState('reconnecting', { reason: msg.reason });
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.connect(), Math.max(0, delay));
        return;
      }
      default:
        break;
    }
    const step = sequence(this.roomState.seq, msg);
    if (step === 'duplicate') return; // already seen (a resume's overlap)
    if (step === 'gap') {
      // Resume from what we have; the server fills it in or sends a welcome.
      this._teardown(4000, 'gap');
      this._scheduleRetry(0);
      return;
    }
    if (isSequenced(msg)) this.attempt = 0;
    this.roomState = reduce(this.roomState, msg);
    let detail = msg;
    if (msg.ref != null && this.pending.has(msg.ref)) {
      const p = this.pending.get(msg.ref);
      this.pending.delete(msg.ref);
      clearTimeout(p.timer);
      if (msg.type === 'error') {
        p.reject(Object.assign(new Error(msg.message || msg.code), {
          code: msg.code, retryAfter: msg.retry_after ?? null, event: msg,
        }));
        if (p.quiet) detail = { ...msg, handled: true };
      } else {
        p.resolve(msg);
      }
    }
    this.dispatchEvent(new CustomEvent(msg.type, { detail }));
  }
}
