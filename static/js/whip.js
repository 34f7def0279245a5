// Publishing a camera over WHIP (RFC 9725): POST /whip/rooms/{room_id} with the host's token.
//
// The server answers VP8 or H.264 constrained
// baseline (packetization-mode=1) with Opus, and pins the first of those the offer lists.
// VP8 goes first unless the host chose H.264 (`videoCodec: 'h264'`): every browser encodes
// VP8 the same way, while H.264 is what phones encode in hardware and what the server
// records as MP4.

import { MediaSession } from './media-http.js';

export function whipEndpoint(roomId) {
  return `/whip/rooms/${encodeURIComponent(roomId)}`;
}

// The H.264 the server takes: baseline profile (profile_idc 0x42, constrained or not) in
// packetization mode 1.
export function isServerH264(codec) {
  if (!codec || String(codec.mimeType).toLowerCase() !== 'video/h264') return false;
  const fmtp = Object.fromEntries(String(codec.sdpFmtpLine || '').split(';').map((p) => {
    const [key, ...value] = p.trim().split('=');
    return [key.toLowerCase(), value.join('=').toLowerCase()];
  }));
  return fmtp['packetization-mode'] === '1' && /^42[0-9a-f]{4}$/.test(fmtp['profile-level-id'] || '');
}

// Constrained baseline (constraint_set1, 42e01f) before plain baseline: it is what the server
// asks for, and what hardware encoders make.
function h264Rank(codec) {
  const profile = /profile-level-id=([0-9a-f]{6})/i.exec(codec.sdpFmtpLine || '');
  return profile && (parseInt(profile[1].slice(2, 4), 16) & 0x40) ? 0 : 1;
}

// The video codecs the studio can offer, by our name: what matches, and in which order.
const VIDEO_CODECS = {
  vp8: { mimeType: 'video/VP8' },
  h264: { mimeType: 'video/H264', fits: isServerH264, rank: h264Rank },
};

function canPrefer() {
  return Boolean(window.RTCRtpTransceiver && RTCRtpTransceiver.prototype
    && typeof RTCRtpTransceiver.prototype.setCodecPreferences === 'function');
}

// True when this browser can send H.264 the way the server takes it, and can put it first
// in its offer (without setCodecPreferences the offer keeps VP8 first).
export function canSendH264() {
  if (!canPrefer() || !window.RTCRtpSender || typeof RTCRtpSender.getCapabilities !== 'function') {
    return false;
  }
  const caps = RTCRtpSender.getCapabilities('video');
  return Boolean(caps && caps.codecs && caps.codecs.some(isServerH264));
}

// Puts the preferred codec first and keeps the rest (retransmission and FEC among them) in
// the browser's order. `codec` is a mimeType, or our name for a video codec (`vp8`, `h264`),
// which picks the variants the server takes. The receiver's capabilities are what every
// browser accepts here; the sender's are tried when the codec is only there (a browser may
// encode H.264 in hardware without decoding it). Browsers that cannot reorder offer their
// default order. Returns whether the preference was set.
export function preferCodec(transceiver, kind, codec) {
  if (typeof transceiver.setCodecPreferences !== 'function') return false;
  const spec = VIDEO_CODECS[codec] || { mimeType: codec };
  const wanted = spec.mimeType.toLowerCase();
  const isWanted = (c) => c.mimeType.toLowerCase() === wanted && (!spec.fits || spec.fits(c));
  for (const source of [window.RTCRtpReceiver, window.RTCRtpSender]) {
    if (!source || typeof source.getCapabilities !== 'function') continue;
    const caps = source.getCapabilities(kind);
    if (!caps || !caps.codecs) continue;
    const first = caps.codecs.filter(isWanted);
    if (!first.length) continue;
    if (spec.rank) first.sort((a, b) => spec.rank(a) - spec.rank(b)); // a stable sort
    const rest = caps.codecs.filter((c) => !first.includes(c));
    try {
      transceiver.setCodecPreferences([...first, ...rest]);
      return true;
    } catch { /* not from this list: try the next, or keep the browser's order */ }
  }
  return false;
}

export class WhipPublisher extends MediaSession {
  // `videoCodec`: 'vp8' (the default) or 'h264', the codec to offer first.
  constructor(endpoint, { token = null, iceServers = [], videoCodec = 'vp8' } = {}) {
    super(endpoint, { token, iceServers });
    this.videoCodec = videoCodec === 'h264' ? 'h264' : 'vp8';
  }

  // Sends every track of `stream`; resolves once the server has answered.
  async start(stream) {
    this.stop();
    await this._open((pc) => {
      for (const track of stream.getTracks()) {
        const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
        if (track.kind === 'video') preferCodec(transceiver, 'video', this.videoCodec);
      }
    });
  }
}
