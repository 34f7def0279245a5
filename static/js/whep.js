// Playing a room's stream over WHEP: POST /whep/rooms/{room_id} with a receive-only offer
// (one video and one audio transceiver); the token is optional, guests watch too.
//
// Dispatches "state" events ({state}: connecting | connected | disconnected | failed |
// closed) as the peer connection moves. A process that does not hold the room's stream
// answers 307 to the one that does; fetch follows it with the same offer.

import { endSession, MediaError, negotiate } from './media-http.js';

export function whepEndpoint(roomId) {
  return `/whep/rooms/${encodeURIComponent(roomId)}`;
}

export class WhepPlayer extends EventTarget {
  constructor(endpoint, { token = null, iceServers = [] } = {}) {
    super();
    this.endpoint = endpoint;
    this.token = token;
    this.iceServers = iceServers;
    this.pc = null;
    this.location = null;
    this.state = 'new';
  }

  // Resolves with a MediaStream holding the received tracks, once the server has answered.
  async start() {
    if (typeof RTCPeerConnection !== 'function') throw new MediaError('no_webrtc');
    await this.stop({ quiet: true });
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: 'max-bundle' });
    this.pc = pc;
    const stream = new MediaStream();
    pc.addEventListener('track', (event) => {
      if (!stream.getTracks().includes(event.track)) stream.addTrack(event.track);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (this.pc === pc) this._setState(pc.connectionState);
    });
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    this._setState('connecting');
    try {
      const location = await negotiate(pc, this.endpoint, { token: this.token });
      if (this.pc !== pc) {
        endSession(location, { token: this.token });
        throw new MediaError('closed');
      }
      this.location = location;
    } catch (err) {
      if (this.pc === pc) {
        this.pc = null;
        pc.close();
        this._setState('closed');
      }
      throw err;
    }
    return stream;
  }

  // Ends the session. With `quiet`, the session is only closed here: the server has ended
  // it already (the stream stopped), and a DELETE would find nothing.
  async stop({ keepalive = false, quiet = false } = {}) {
    const { pc, location } = this;
    this.pc = null;
    this.location = null;
    if (pc) this._setState('closed');
    if (!quiet) {
      const ended = endSession(location, { token: this.token, keepalive });
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
