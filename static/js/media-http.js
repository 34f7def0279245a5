// What WHIP (RFC 9725, publishing) and WHEP (playing) share: one offer and one answer over
// HTTP, then DELETE on the session URL to end it.
//
// The server does no trickle ICE, so the offer is sent only once ICE gathering is complete
// and holds every candidate. Gathering can stall on a host with a dead interface or an
// unreachable STUN server: after a while the offer goes with the candidates found so far.
// Refusals are application/problem+json with a stable `code`; they become a MediaError.

const GATHER_TIMEOUT_MS = 4000;

export class MediaError extends Error {
  constructor(code, { status = 0, message = '', retryAfter = null } = {}) {
    super(message || code);
    this.name = 'MediaError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

function codeForStatus(status) {
  return ({ 400: 'bad_sdp', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found',
    409: 'room_not_live', 413: 'too_large', 429: 'rate_limited', 503: 'unavailable' })[status] || 'internal';
}

// Resolves when gathering is complete, or at the timeout with what has been gathered.
export function gatheringComplete(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      pc.removeEventListener('icecandidate', onCandidate);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    // A null candidate is the end of gathering too; some browsers say so only that way.
    const onCandidate = (event) => { if (!event.candidate) done(); };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
    pc.addEventListener('icecandidate', onCandidate);
  });
}

async function problemOf(response) {
  let data = null;
  if ((response.headers.get('Content-Type') || '').includes('json')) {
    try { data = await response.json(); } catch { data = null; }
  }
  const header = response.headers.get('Retry-After');
  const retryAfter = data && data.retry_after != null ? Number(data.retry_after)
    : header && !Number.isNaN(Number(header)) ? Number(header) : null;
  return new MediaError((data && data.code) || codeForStatus(response.status), {
    status: response.status,
    message: (data && (data.detail || data.title)) || response.statusText,
    retryAfter,
  });
}

function headersFor(token, extra = {}) {
  const headers = { ...extra };
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

// Makes the offer, waits for the candidates, POSTs it and applies the answer.
// Returns the session URL (absolute) to DELETE at the end.
export async function negotiate(pc, endpoint, { token = null, gatherTimeoutMs = GATHER_TIMEOUT_MS } = {}) {
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc, gatherTimeoutMs);
  let response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: headersFor(token, {
        'Content-Type': 'application/sdp',
        Accept: 'application/sdp, application/problem+json',
      }),
      body: pc.localDescription.sdp,
    });
  } catch (err) {
    throw new MediaError('network', { message: String((err && err.message) || err) });
  }
  if (!response.ok) throw await problemOf(response);
  const location = response.headers.get('Location');
  const answer = await response.text();
  if (pc.signalingState === 'closed') throw new MediaError('closed');
  try {
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  } catch (err) {
    // The session exists on the server: end it rather than leave it to time out.
    if (location) endSession(new URL(location, response.url).href, { token });
    throw new MediaError('bad_answer', { message: String((err && err.message) || err) });
  }
  return location ? new URL(location, response.url).href : null;
}

// Ends a session. `keepalive` lets the request outlive the page (pagehide); `reason`
// 'leaving' tells a WHIP server the publisher's page is going away, not the stream.
export async function endSession(url, { token = null, keepalive = false, reason = null } = {}) {
  if (!url) return;
  const target = reason ? `${url}${url.includes('?') ? '&' : '?'}reason=${encodeURIComponent(reason)}` : url;
  try {
    await fetch(target, { method: 'DELETE', headers: headersFor(token), keepalive });
  } catch { /* the server ends sessions whose peer goes away anyway */ }
}

// The ICE servers the page should use: `ice_servers` from /api/v1/config, when the server
// gives them (RTCIceServer dictionaries), else none (host candidates only).
export function iceServersFrom(config) {
  const list = config && Array.isArray(config.ice_servers) ? config.ice_servers : [];
  return list.filter((s) => s && (typeof s.urls === 'string' || Array.isArray(s.urls)));
}

// One WHIP or WHEP session: its peer connection, its session URL and its state.
// Dispatches "state" events ({state}: connecting | connected | disconnected | failed |
// closed) as the peer connection moves.
export class MediaSession extends EventTarget {
  constructor(endpoint, { token = null, iceServers = [] } = {}) {
    super();
    this.endpoint = endpoint;
    this.token = token;
    this.iceServers = iceServers;
    this.pc = null;
    this.location = null;
    this.state = 'new';
  }

  // A new peer connection, set up by `prepare(pc)` (its transceivers), offered and
  // answered. Resolves once the server has answered; media then flows as soon as ICE and
  // DTLS connect, which the "state" events tell.
  async _open(prepare) {
    if (typeof RTCPeerConnection !== 'function') throw new MediaError('no_webrtc');
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.addEventListener('connectionstatechange', () => {
      if (this.pc === pc) this._setState(pc.connectionState);
    });
    prepare(pc);
    this._setState('connecting');
    try {
      const location = await negotiate(pc, this.endpoint, { token: this.token });
      if (this.pc !== pc) {
        // Stopped while the answer was on its way.
        endSession(location, { token: this.token });
        throw new MediaError('closed');
      }
      this.location = location;
    } catch (err) {
      if (this.pc === pc) {
        this.pc = null;
        pc.close();
        this._setState('closed'); // the error says why; "failed" is for a dropped connection
      }
      throw err;
    }
  }

  // Ends the session on the server, then closes the connection (closing first would let the
  // server end the session on its own, and the DELETE then finds nothing). Safe to call
  // twice. With `quiet`, the session is only closed here: the server has ended it already.
  async stop({ keepalive = false, quiet = false, reason = null } = {}) {
    const { pc, location } = this;
    this.pc = null;
    this.location = null;
    if (pc) this._setState('closed');
    if (!quiet) {
      const ended = endSession(location, { token: this.token, keepalive, reason });
      if (!keepalive) await ended;
    }
    if (pc) pc.close();
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
  }
}
