// Playing a room's stream over WHEP: POST /whep/rooms/{room_id} with a receive-only offer
// (one video and one audio transceiver); the token is optional, guests watch too.
//
// A process that does not hold the room's stream pulls it from the one that does, or (with
// --no-cascade) answers 307 to it; fetch follows that with the same offer.

import { MediaSession } from './media-http.js';

export function whepEndpoint(roomId) {
  return `/whep/rooms/${encodeURIComponent(roomId)}`;
}

export class WhepPlayer extends MediaSession {
  // Resolves with a MediaStream holding the received tracks, once the server has answered.
  async start() {
    await this.stop({ quiet: true });
    const stream = new MediaStream();
    await this._open((pc) => {
      pc.addEventListener('track', (event) => {
        if (!stream.getTracks().includes(event.track)) stream.addTrack(event.track);
      });
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
    });
    return stream;
  }
}
