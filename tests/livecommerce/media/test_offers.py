"""What a WHIP or WHEP request body gets: a usable offer, or the one error that says why not."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender

from livecommerce.errors import TooLarge
from livecommerce.media.offers import SDP_MAX_BYTES, BadSdp, Role, UnsupportedCodec, read_offer

SDP = "application/sdp"


async def offer_from_aiortc(
    direction: str, *, video: str | None = "any", audio: bool = True
) -> str:
    """A real offer, as an aiortc peer (our own test publisher and viewers) makes it."""
    pc = RTCPeerConnection()
    try:
        if video is not None:
            transceiver = pc.addTransceiver("video", direction=direction)
            if video != "any":
                codecs = RTCRtpSender.getCapabilities("video").codecs
                transceiver.setCodecPreferences(
                    [c for c in codecs if c.mimeType in (f"video/{video}", "video/rtx")]
                )
        if audio:
            pc.addTransceiver("audio", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


async def test_a_publishers_offer_with_video_and_audio_is_taken() -> None:
    offer = read_offer((await offer_from_aiortc("sendonly")).encode(), SDP, Role.PUBLISH)
    assert (offer.video, offer.audio) == ("VP8", "opus")


async def test_an_h264_only_publisher_like_obs_is_taken() -> None:
    sdp = await offer_from_aiortc("sendonly", video="H264")
    offer = read_offer(sdp.encode(), "application/sdp; charset=utf-8", Role.PUBLISH)
    assert offer.video == "H264"


async def test_a_viewers_offer_receives() -> None:
    offer = read_offer((await offer_from_aiortc("recvonly")).encode(), SDP, Role.PLAY)
    assert offer.video == "VP8"


async def test_an_offer_going_the_wrong_way_is_refused() -> None:
    receiving = (await offer_from_aiortc("recvonly")).encode()
    with pytest.raises(BadSdp, match="must send"):
        read_offer(receiving, SDP, Role.PUBLISH)
    sending = (await offer_from_aiortc("sendonly")).encode()
    with pytest.raises(BadSdp, match="must receive"):
        read_offer(sending, SDP, Role.PLAY)


async def test_an_offer_with_no_codec_we_forward_gets_a_clear_error() -> None:
    sdp = await offer_from_aiortc("sendonly")
    no_video_codec = sdp.replace("VP8/90000", "AV1X/90000").replace("H264/90000", "H265/90000")
    with pytest.raises(UnsupportedCodec, match=r"H\.264"):
        read_offer(no_video_codec.encode(), SDP, Role.PUBLISH)
    no_opus = sdp.replace("opus/48000/2", "speex/48000/2")
    with pytest.raises(UnsupportedCodec, match="Opus"):
        read_offer(no_opus.encode(), SDP, Role.PUBLISH)


async def test_h264_without_packetization_mode_1_is_not_forwarded() -> None:
    sdp = await offer_from_aiortc("sendonly", video="H264", audio=False)
    mode0 = sdp.replace("packetization-mode=1", "packetization-mode=0")
    with pytest.raises(UnsupportedCodec):
        read_offer(mode0.encode(), SDP, Role.PUBLISH)


@pytest.mark.parametrize(
    ("body", "content_type", "error", "problem"),
    [
        (b"v=0\r\n", "text/plain", BadSdp, "application/sdp"),
        (b"", SDP, BadSdp, "starts with v=0"),
        (b"hello", SDP, BadSdp, "starts with v=0"),
        (b"\xff\xfe", SDP, BadSdp, "UTF-8"),
        (b"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", SDP, BadSdp, "no audio or video"),
        (b"v=0\r\nm=video x\r\n", SDP, BadSdp, "could not be parsed"),
        (b"v=0\r\n\x00", SDP, BadSdp, "control characters"),
        (b"v=0\r\n" + b"a=x\r\n" * (SDP_MAX_BYTES // 5), SDP, TooLarge, "over"),
    ],
)
def test_garbage_and_truncated_bodies_are_refused(
    body: bytes, content_type: str, error: type[Exception], problem: str
) -> None:
    with pytest.raises(error, match=problem):
        read_offer(body, content_type, Role.PUBLISH)


async def test_a_truncated_offer_is_refused_at_any_cut() -> None:
    sdp = (await offer_from_aiortc("sendonly")).encode()
    for cut in range(3, len(sdp) - 1, 97):
        with pytest.raises((BadSdp, UnsupportedCodec)):
            read_offer(sdp[:cut], SDP, Role.PUBLISH)


async def test_an_offer_without_ice_or_dtls_is_refused() -> None:
    sdp = await offer_from_aiortc("sendonly", audio=False)
    no_ice = "\r\n".join(line for line in sdp.splitlines() if not line.startswith("a=ice-"))
    with pytest.raises(BadSdp, match="ICE"):
        read_offer(no_ice.encode(), SDP, Role.PUBLISH)
    no_dtls = "\r\n".join(line for line in sdp.splitlines() if not line.startswith("a=fingerprint"))
    with pytest.raises(BadSdp, match="DTLS"):
        read_offer(no_dtls.encode(), SDP, Role.PUBLISH)
