// Publishing a camera over WHIP (RFC 9725): POST /whip/rooms/{room_id} with the host's token.
//
// Dispatches "state" events ({state}: connecting | connected | disconnected | failed |
// closed) as the peer connection moves. The server answers VP8 or H.264 constrained
// baseline with Opus; VP8 goes first in the offer, as every browser encodes it the same way.

import { endSession, MediaError, negotiate } from './media-http.js';

export function whipEndpoint(roomId) {
  return `/whip/rooms/${encodeURIComponent(roomId)}`;
}

// Puts the preferred codec first and keeps the rest (retransmission and FEC among them) in
// the browser's order. Browsers that cannot reorder offer their default order.
export function preferCodec(transceiver, kind, mimeType) {
  if (typeof transceiver.setCodecPreferences !== 'function' || !window.RTCRtpReceiver
      || typeof RTCRtpReceiver.getCapabilities !== 'function') return;
  const caps = RTCRtpReceiver.getCapabilities(kind);
  if (!caps || !caps.codecs) return;
  const wanted = mimeType.toLowerCase();
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (!first.length) return;
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== wanted);
  try {
    transceiver.setCodecPreferences([...first, ...rest]);
  } catch { /* keep the browser's order */ }
}

export class WhipPublisher extends EventTarget {
  constructor(endpoint, { token = null, iceServers = [] } = {}) {
    super();
    this.endpoint = endpoint;
    this.token = token;
    this.iceServers = iceServers;
    this.pc = null;
    this.location = null;
    this.state = 'new';
  }

  // Sends every track of `stream`; resolves once the server has answered (media then flows
  // as soon as ICE and DTLS connect, which the "state" events tell).
  async start(stream) {
    if (typeof RTCPeerConnection !== 'function') throw new MediaError('no_webrtc');
    this.stop();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    pc.addEventListener('connectionstatechange', () => {
      if (this.pc === pc) this._setState(pc.connectionState);
    });
    for (const track of stream.getTracks()) {
      const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      if (track.kind === 'video') preferCodec(transceiver, 'video', 'video/VP8');
    }
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
  // server end the session on its own, and the DELETE then finds nothing). Safe to call twice.
  async stop({ keepalive = false } = {}) {
    const { pc, location } = this;
    this.pc = null;
    this.location = null;
    if (pc) this._setState('closed');
    const ended = endSession(location, { token: this.token, keepalive });
    if (!keepalive) await ended;
    if (pc) pc.close();
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state } }));
  }
}
