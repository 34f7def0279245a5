"""WHIP and WHEP offers: read a hostile SDP body into what the media plane can use, or refuse.

An offer comes from anyone with a token and is parsed by aiortc, whose parser was written
for well-formed peers: it raises whatever a malformed line makes it raise. So the body is
bounded and screened here first, every parser failure becomes one ``bad_sdp`` error, and the
parsed offer is checked for what forwarding needs: ICE and DTLS credentials, media the
direction of the request allows, and a codec this server forwards (H.264 with packetization
mode 1, or VP8, for video; Opus for audio). A client learns which of those it got wrong.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from aiortc import RTCRtpCodecCapability, RTCRtpCodecParameters, RTCRtpSender
from aiortc.sdp import MediaDescription, SessionDescription

from livecommerce.errors import BadRequest, TooLarge

SDP_MAX_BYTES: Final = 64 * 1024
CONTENT_TYPE: Final = "application/sdp"


class BadSdp(BadRequest):
    code = "bad_sdp"
    title = "Bad SDP offer"


class UnsupportedCodec(BadRequest):
    code = "unsupported_codec"
    title = "No codec this server forwards"


class Role(enum.StrEnum):
    PUBLISH = "publish"  # WHIP: the host sends
    PLAY = "play"  # WHEP: a viewer receives


_SENDS = {"sendonly", "sendrecv"}
_RECEIVES = {"recvonly", "sendrecv"}


@dataclass(frozen=True, slots=True)
class Offer:
    sdp: str
    video: str | None  # "H264" or "VP8", the first one offered that we forward
    audio: str | None  # "opus"
    video_codecs: frozenset[str] = frozenset()  # every video codec offered that we forward


def read_offer(body: bytes, content_type: str | None, role: Role) -> Offer:
    """The offer in a WHIP or WHEP request body, checked; or the error to answer with."""
    if (content_type or "").split(";")[0].strip().lower() != CONTENT_TYPE:
        raise BadSdp(f"the body must be {CONTENT_TYPE}")
    if len(body) > SDP_MAX_BYTES:
        raise TooLarge(f"the offer is over {SDP_MAX_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSdp("the offer is not UTF-8 text") from None
    if not text.startswith("v=0"):
        raise BadSdp("an SDP offer starts with v=0")
    if any(ord(c) < 32 and c not in "\r\n\t" for c in text):
        raise BadSdp("the offer holds control characters")
    try:
        parsed = SessionDescription.parse(text)
    except Exception:  # aiortc raises whatever the bad line makes it raise
        raise BadSdp("the offer could not be parsed as SDP") from None
    media = [m for m in parsed.media if m.kind in ("audio", "video")]
    if not media:
        raise BadSdp("the offer has no audio or video")
    wanted = _SENDS if role is Role.PUBLISH else _RECEIVES
    for m in media:
        if m.direction not in wanted:
            verb = "send" if role is Role.PUBLISH else "receive"
            raise BadSdp(f"the {m.kind} section must {verb} (its direction is {m.direction})")
        if m.ice is None or not (m.ice.usernameFragment and m.ice.password):
            raise BadSdp(f"the {m.kind} section has no ICE credentials")
        if not (m.dtls and m.dtls.fingerprints):
            raise BadSdp(f"the {m.kind} section has no DTLS fingerprint")
    video = _first(media, "video", _video_codec)
    audio = _first(media, "audio", _audio_codec)
    has_video = any(m.kind == "video" for m in media)
    has_audio = any(m.kind == "audio" for m in media)
    if (has_video and video is None) or (has_audio and audio is None):
        raise UnsupportedCodec(
            "offer video as H.264 (packetization-mode=1) or VP8, and audio as Opus"
        )
    offered = frozenset(
        name
        for m in media
        if m.kind == "video"
        for name in [_forwardable(c) for c in m.rtp.codecs]
        if name
    )
    return Offer(text, video, audio, offered)


def _first(media: list[MediaDescription], kind: str, pick: object) -> str | None:
    for m in media:
        if m.kind == kind:
            found = pick(m)  # type: ignore[operator]
            if found:
                return str(found)
    return None


def _video_codec(m: MediaDescription) -> str | None:
    for codec in m.rtp.codecs:
        name = _forwardable(codec)
        if name:
            return name
    return None


def _forwardable(codec: RTCRtpCodecParameters) -> str | None:
    name = codec.mimeType.split("/")[-1]
    if name == "VP8":
        return name
    if name == "H264" and str(codec.parameters.get("packetization-mode", "0")) == "1":
        return name
    return None


def preferences(kind: str, codec: str) -> list[RTCRtpCodecCapability]:
    """aiortc's capabilities for one codec (and its retransmissions), to pin a transceiver to."""
    found = [
        c
        for c in RTCRtpSender.getCapabilities(kind).codecs
        if c.mimeType.split("/")[-1].lower() in (codec.lower(), "rtx")
    ]
    return found


def _audio_codec(m: MediaDescription) -> str | None:
    for codec in m.rtp.codecs:
        if codec.mimeType.lower() == "audio/opus":
            return "opus"
    return None
