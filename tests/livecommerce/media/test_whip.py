"""A host goes live from a WebRTC publisher over WHIP; bad offers and strangers are refused."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender

from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import join, open_room, sign_up
from tests.livecommerce.media.peers import accept, publisher_offer

SDP = {"Content-Type": "application/sdp"}


async def test_the_host_publishes_over_whip_and_the_room_goes_live(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada, live=False)
    watching = await join(server.ws_url, room["id"])
    pc, camera, offer = await publisher_offer()
    try:
        answer = await http.post(
            f"/whip/rooms/{room['id']}", content=offer, headers={**SDP, **ada.headers}
        )
        assert answer.status_code == 201, answer.text
        assert answer.headers["content-type"].startswith("application/sdp")
        location = answer.headers["location"]
        assert location.startswith("/whip/sessions/")
        await accept(pc, answer.text)
        publication = server.publications.by_room[room["id"]]
        live = await watching.expect("room.state")
        assert live["state"] == "live"
        assert (await watching.expect("stream.state", wait=15))["state"] == "live"
        assert publication.offer.video == "VP8"

        kari = await sign_up(http, "Kari")
        stranger = await http.delete(location, headers=kari.headers)
        assert stranger.status_code == 403
        stopped = await http.delete(location, headers=ada.headers)
        assert stopped.status_code == 200
        assert publication.ended.is_set()
        assert room["id"] not in server.publications.by_room
        assert (await http.delete(location, headers=ada.headers)).status_code == 404
    finally:
        await pc.close()
    assert camera.count > 0


async def test_a_publisher_that_comes_back_replaces_its_old_session(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    watching = await join(server.ws_url, room["id"])
    first_pc, _, first_offer = await publisher_offer()
    second_pc, _, second_offer = await publisher_offer()
    try:
        first = await http.post(
            f"/whip/rooms/{room['id']}", content=first_offer, headers={**SDP, **ada.headers}
        )
        old = server.publications.by_room[room["id"]]
        second = await http.post(
            f"/whip/rooms/{room['id']}", content=second_offer, headers={**SDP, **ada.headers}
        )
        assert (first.status_code, second.status_code) == (201, 201)
        assert old.ended.is_set()
        await accept(second_pc, second.text)
        assert (await watching.expect("stream.state", wait=15))["state"] == "live"
    finally:
        await watching.close()
        await first_pc.close()
        await second_pc.close()


async def test_a_publisher_that_never_connects_is_cleaned_up(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    server.publications.connect_timeout_s = 0.5
    pc, _, offer = await publisher_offer()
    try:
        answer = await http.post(
            f"/whip/rooms/{room['id']}", content=offer, headers={**SDP, **ada.headers}
        )
        assert answer.status_code == 201
        publication = server.publications.by_room[room["id"]]
        async with asyncio.timeout(timeout(10)):
            await publication.ended.wait()  # the answer was never applied: no connection
        assert room["id"] not in server.publications.by_room
    finally:
        await pc.close()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"garbage", "application/sdp", 400, "bad_sdp"),
        (b"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF", "application/sdp", 400, "bad_sdp"),
        (b"v=0\r\n", "text/plain", 400, "bad_sdp"),
        (b"v=0\r\n" + b"a=x\r\n" * 20_000, "application/sdp", 413, "too_large"),
    ],
)
async def test_garbage_offers_are_refused(
    server: Server, http: httpx.AsyncClient, body: bytes, content_type: str, status: int, code: str
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    answer = await http.post(
        f"/whip/rooms/{room['id']}",
        content=body,
        headers={"Content-Type": content_type, **ada.headers},
    )
    assert answer.status_code == status
    assert answer.json()["code"] == code
    assert room["id"] not in server.publications.by_room


async def test_an_offer_with_no_usable_codec_says_which_codecs_work(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    pc, _, offer = await publisher_offer()
    await pc.close()
    unusable = offer.replace("VP8/90000", "AV1X/90000").replace("H264/90000", "H265/90000")
    answer = await http.post(
        f"/whip/rooms/{room['id']}", content=unusable, headers={**SDP, **ada.headers}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "unsupported_codec"
    assert "VP8" in answer.json()["detail"]


async def test_only_the_host_may_publish_and_only_while_the_show_is_on(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada, kari = await sign_up(http, "Ada"), await sign_up(http, "Kari")
    room = await open_room(http, ada)
    pc, _, offer = await publisher_offer()
    await pc.close()
    anonymous = await http.post(f"/whip/rooms/{room['id']}", content=offer, headers=SDP)
    assert anonymous.status_code == 401
    stranger = await http.post(
        f"/whip/rooms/{room['id']}", content=offer, headers={**SDP, **kari.headers}
    )
    assert stranger.status_code == 403
    missing = await http.post("/whip/rooms/r_nope", content=offer, headers={**SDP, **ada.headers})
    assert missing.status_code == 404
    await http.post(f"/api/v1/rooms/{room['id']}/end", headers=ada.headers)
    ended = await http.post(
        f"/whip/rooms/{room['id']}", content=offer, headers={**SDP, **ada.headers}
    )
    assert ended.status_code == 409
    assert ended.json()["code"] == "room_not_live"


async def test_an_h264_high_profile_only_offer_gets_a_clear_error_not_a_crash(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences(
        [c for c in codecs if c.mimeType in ("video/H264", "video/rtx")]
    )
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    await pc.close()
    for baseline in ("42001f", "42e01f"):
        offer = offer.replace(f"profile-level-id={baseline}", "profile-level-id=640c1f")
    answer = await http.post(
        f"/whip/rooms/{room['id']}", content=offer, headers={**SDP, **ada.headers}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "unsupported_codec"
    assert "constrained baseline" in answer.json()["detail"]
    assert room["id"] not in server.publications.by_room


async def test_an_offer_without_video_is_not_a_live_stream(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    await pc.close()
    answer = await http.post(
        f"/whip/rooms/{room['id']}", content=pc.localDescription.sdp, headers={**SDP, **ada.headers}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_sdp"
    assert "video" in answer.json()["detail"]
    assert room["id"] not in server.publications.by_room


OBS_OFFER = (
    "v=0\r\no=rtc 3877212184 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\na=group:LS 0 1\r\na=msid-semantic:WMS *\r\na=setup:actpass\r\n"
    "a=ice-ufrag:nxcM\r\na=ice-pwd:ezjAjgSSLLvbRhUA1zc6Se\r\na=ice-options:ice2,trickle\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
    "a=ssrc:3388068600 cname:Yuu1KDxQcc3L5CpY\r\na=msid:XmQ XmQ-audio\r\na=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;stereo=1;useinbandfec=1\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendonly\r\n"
    "a=ssrc:3388068601 cname:Yuu1KDxQcc3L5CpY\r\na=msid:XmQ XmQ-video\r\na=rtcp-mux\r\n"
    "a=rtpmap:96 H264/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n"
    "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1\r\n"
)


async def test_obs_offer_with_session_level_credentials_and_no_candidates_is_answered(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    answer = await http.post(
        f"/whip/rooms/{room['id']}", content=OBS_OFFER, headers={**SDP, **ada.headers}
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"].startswith("/whip/sessions/")
    sdp = answer.text
    assert "a=recvonly" in sdp
    assert "H264/90000" in sdp
    assert "VP8" not in sdp  # one codec: the one OBS sends
    assert "a=candidate:" in sdp
    stopped = await http.delete(answer.headers["location"], headers=ada.headers)
    assert stopped.status_code == 200  # OBS warns on anything else


async def test_a_publisher_that_never_trickles_its_candidates_still_streams(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    watching = await join(server.ws_url, room["id"])
    pc, _, offer = await publisher_offer(codec="H264")
    bare = "".join(
        line + "\r\n"
        for line in offer.splitlines()
        if not line.startswith(("a=candidate", "a=end-of-candidates"))
    )
    try:
        answer = await http.post(
            f"/whip/rooms/{room['id']}", content=bare, headers={**SDP, **ada.headers}
        )
        assert answer.status_code == 201, answer.text
        await accept(pc, answer.text)
        assert (await watching.expect("stream.state", wait=15))["state"] == "live"
    finally:
        await pc.close()
        await watching.close()
