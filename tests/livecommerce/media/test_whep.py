"""Viewers watch a host's stream over WHEP: the frames are the publisher's, forwarded."""

from __future__ import annotations

import asyncio
import time

import av
import httpx
import pytest
from aiortc import RTCIceServer

from livecommerce.api.media import _link_header
from livecommerce.media.hub import KEYFRAME_GAP_S
from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory
from tests.livecommerce.media.peers import SDP, go_live, offer_to_watch, read, watch


async def test_two_viewers_watch_the_hosts_camera_frame_by_frame(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    publisher, camera, _ = await go_live(http, room["id"], ada.headers)
    first, second = await watch(http, room["id"]), await watch(http, room["id"])
    try:
        async with asyncio.timeout(timeout(15)):
            seen = [await first.frames(30), await second.frames(30)]
        for counters in seen:
            assert counters == sorted(set(counters)), counters  # every frame newer than the last
            assert counters[-1] - counters[0] >= 29
        latecomer = await join(server.ws_url, room["id"])
        assert latecomer.seen[0]["room"]["stream"] == "live"  # a page that joins now knows
        await latecomer.close()
        hub = server.hubs.by_room[room["id"]]
        assert hub.video.frames_in >= 30
        assert hub.video.packets_out > 0
        assert first.audio_frames > 0
        assert second.audio_frames > 0
        # Forwarded, not re-encoded: one camera, one encoder, and the picture is its frames.
        latency = [
            first.arrived[i] - camera.sent_at[c]
            for i, c in enumerate(first.counters)
            if c in camera.sent_at
        ]
        assert sorted(latency)[len(latency) // 2] < 0.3
    finally:
        await first.close()
        await second.close()
        await publisher.close()


async def test_a_viewer_who_joins_late_gets_a_picture_within_a_second(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    publisher, _camera, _ = await go_live(http, room["id"], ada.headers)
    early = await watch(http, room["id"])
    try:
        async with asyncio.timeout(timeout(15)):
            await early.frames(
                60
            )  # two seconds in: aiortc's encoder sends keyframes only when asked
        requests = server.hubs.by_room[room["id"]].video.keyframe_requests
        late = await watch(http, room["id"])
        try:
            async with asyncio.timeout(timeout(15)):
                await late.frames(1)
            assert late.arrived[0] - late.answered_at < 1.0
            assert server.hubs.by_room[room["id"]].video.keyframe_requests > requests
            assert late.counters[0] > early.counters[0]
        finally:
            await late.close()
    finally:
        await early.close()
        await publisher.close()


async def test_viewers_see_reconnecting_and_resume_when_the_publisher_comes_back(
    start_server: ServerFactory,
) -> None:
    server = await start_server(stream_idle_s=0.5)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        room = await open_room(http, ada)
        people = await join(server.ws_url, room["id"])
        publisher, _, _ = await go_live(http, room["id"], ada.headers)
        viewer = await watch(http, room["id"])
        try:
            async with asyncio.timeout(timeout(15)):
                await viewer.frames(10)
                assert (await people.expect("stream.state"))["state"] == "live"
                await publisher.close()  # the studio's network drops: no DELETE
                assert (await people.expect("stream.state"))["state"] == "reconnecting"
                publisher, _, _ = await go_live(http, room["id"], ada.headers, start=5000)
                async with viewer.changed:
                    await viewer.changed.wait_for(
                        lambda: sum(c >= 5000 for c in viewer.counters) >= 10
                    )
                assert (await people.expect("stream.state"))["state"] == "live"
            first_new = next(i for i, c in enumerate(viewer.counters) if c >= 5000)
            before, after = viewer.counters[:first_new], viewer.counters[first_new:]
            assert before == sorted(before)
            assert max(before) < 5000
            assert after == sorted(after)
            assert min(after) >= 5000
            assert viewer.pc.connectionState == "connected"  # the same session all along
        finally:
            await viewer.close()
            await publisher.close()
            await people.close()


async def test_a_publisher_gone_for_good_ends_the_stream_after_the_grace_period(
    start_server: ServerFactory,
) -> None:
    server = await start_server(stream_idle_s=0.3, stream_grace_s=0.6)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        room = await open_room(http, ada)
        people = await join(server.ws_url, room["id"])
        publisher, _, _ = await go_live(http, room["id"], ada.headers)
        viewer = await watch(http, room["id"])
        try:
            async with asyncio.timeout(timeout(15)):
                await viewer.frames(5)
                await publisher.close()
                states = [(await people.expect("stream.state"))["state"] for _ in range(3)]
                assert states == ["live", "reconnecting", "offline"]
                await viewer.gone.wait()
            refused = await offer_to_watch(http, room["id"])
            assert refused[1].status_code == 409
            assert refused[1].json()["code"] == "room_not_live"
            assert (await http.get(f"/api/v1/rooms/{room['id']}")).json()["stream"] == "offline"
        finally:
            await viewer.close()
            await people.close()


async def test_ending_the_show_ends_the_stream_and_keeps_a_shoppable_replay(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    product = (
        await http.post(
            "/api/v1/products",
            json={"title": "Teapot", "price": 2500, "currency": "EUR", "sku": "tp-1", "stock": 5},
            headers=ada.headers,
        )
    ).json()
    people = await join(server.ws_url, room["id"])
    publisher, _camera, _ = await go_live(http, room["id"], ada.headers)
    viewer = await watch(http, room["id"])
    try:
        async with asyncio.timeout(timeout(15)):
            await viewer.frames(15)
            pinned = await http.put(
                f"/api/v1/rooms/{room['id']}/pin",
                json={"product_id": product["id"]},
                headers=ada.headers,
            )
            assert pinned.status_code == 200, pinned.text
            await viewer.frames(15, after=15)
            ended = await http.post(f"/api/v1/rooms/{room['id']}/end", headers=ada.headers)
            assert ended.status_code == 200
            ready = await people.expect("replay.ready")
        assert room["id"] not in server.publications.by_room
        assert server.hubs.live(room["id"]) is None
        replay = (await http.get(f"/api/v1/rooms/{room['id']}/replay")).json()
        [recording] = replay["recordings"]
        assert recording == ready["recording"]
        [pin] = replay["pins"]
        assert pin["product"]["id"] == product["id"]
        assert recording["started_at"] <= pin["at"] <= recording["ended_at"]
        media = await http.get(recording["url"])
        assert media.status_code == 200
        assert media.headers["content-type"] == recording["media_type"]
        part = await http.get(recording["url"], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206
        assert len(part.content) == 100
        assert server.hubs.recordings is not None
        path = server.hubs.recordings / recording["url"].rsplit("/", 1)[-1]
        with av.open(str(path)) as container:
            counters = [read(frame) for frame in container.decode(video=0)]
        assert len(counters) >= 25
        assert counters == sorted(counters)
        assert max(counters) - min(counters) >= 25
    finally:
        await viewer.close()
        await publisher.close()
        await people.close()


async def test_whep_refuses_what_it_cannot_play(server: Server, http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    _not_yet, answer = await offer_to_watch(http, room["id"])
    assert (answer.status_code, answer.json()["code"]) == (409, "room_not_live")
    assert (await http.post(f"/whep/rooms/{room['id']}", content=b"v=0\r\nx", headers=SDP)).json()[
        "code"
    ] == "bad_sdp"
    missing = await http.post("/whep/rooms/r_nope", content=b"v=0\r\n", headers=SDP)
    assert missing.status_code == 404
    assert (await http.delete("/whep/sessions/wv_nope")).status_code == 404

    publisher, _, _ = await go_live(http, room["id"], ada.headers, codec="VP8")
    try:
        _, h264_only = await offer_to_watch(http, room["id"], codecs=("H264",))
        assert h264_only.status_code == 400
        assert h264_only.json()["code"] == "unsupported_codec"
        assert "VP8" in h264_only.json()["detail"]
        viewer = await watch(http, room["id"])
        assert (await http.delete(viewer.location)).status_code == 200
        assert server.playbacks.by_id == {}
        await viewer.close()
        kari, mallory = await sign_up(http, "Kari"), await sign_up(http, "Mallory")
        karis = await watch(http, room["id"], headers=kari.headers)
        taken = await http.delete(karis.location, headers=mallory.headers)
        assert taken.status_code == 403
        assert (await http.delete(karis.location, headers=kari.headers)).status_code == 200
        await karis.close()
    finally:
        await publisher.close()


@pytest.mark.parametrize("codec", ["H264", "VP8"])
async def test_each_codec_the_studio_or_obs_sends_is_forwarded_as_it_came(
    server: Server, http: httpx.AsyncClient, codec: str
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    publisher, _, _ = await go_live(http, room["id"], ada.headers, codec=codec)
    viewer = await watch(http, room["id"])
    try:
        async with asyncio.timeout(timeout(15)):
            counters = await viewer.frames(20)
        assert counters == sorted(set(counters))
        assert server.hubs.by_room[room["id"]].video.codec == codec
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_publisher_that_stays_connected_but_sends_nothing_is_ended(
    start_server: ServerFactory,
) -> None:
    server = await start_server(stream_idle_s=0.3, stream_grace_s=0.8)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        room = await open_room(http, ada)
        people = await join(server.ws_url, room["id"])
        publisher, _, _ = await go_live(http, room["id"], ada.headers)
        try:
            async with asyncio.timeout(timeout(15)):
                assert (await people.expect("stream.state"))["state"] == "live"
                publication = server.publications.by_room[room["id"]]
                for sender in publisher.getSenders():
                    sender.replaceTrack(None)  # the camera freezes; the connection stays up
                assert (await people.expect("stream.state"))["state"] == "reconnecting"
                assert (await people.expect("stream.state"))["state"] == "offline"
                await publication.ended.wait()
            assert room["id"] not in server.publications.by_room
        finally:
            await publisher.close()
            await people.close()


async def test_whip_and_whep_say_what_they_take_and_which_ice_servers_to_use(
    server: Server, http: httpx.AsyncClient
) -> None:
    origin = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    for endpoint in ("/whip/rooms/r_any", "/whep/rooms/r_any"):
        asked = await http.options(endpoint, headers=origin)
        assert asked.status_code == 204
        assert asked.headers["accept-post"] == "application/sdp"
        assert asked.headers["access-control-allow-origin"] == "*"
        assert "Authorization" in asked.headers["access-control-allow-headers"]
        refused = await http.post(endpoint, content=b"x", headers={**SDP, "Origin": "https://x"})
        assert refused.status_code in (401, 404)  # no token; no such room
        assert refused.headers["access-control-allow-origin"] == "*"  # a page can read why
        assert "Location" in refused.headers["access-control-expose-headers"]
    for session in ("/whip/sessions/wp_any", "/whep/sessions/wv_any"):
        asked = await http.options(
            session, headers={**origin, "Access-Control-Request-Method": "DELETE"}
        )
        assert asked.status_code == 204  # a page on another origin may DELETE its session
        assert "DELETE" in asked.headers["access-control-allow-methods"]
        trickle = await http.patch(
            session, headers={"Content-Type": "application/trickle-ice-sdpfrag"}
        )
        assert trickle.status_code == 405
    turn = RTCIceServer("turn:turn.example.org:3478", "ada", "s3cret")
    links = _link_header([RTCIceServer("stun:stun.example.org:3478"), turn])["Link"]
    assert links == (
        '<stun:stun.example.org:3478>; rel="ice-server", '
        '<turn:turn.example.org:3478>; rel="ice-server"; username="ada"; credential="s3cret";'
        ' credential-type="password"'
    )
    assert _link_header([]) == {}


async def test_a_publisher_back_with_another_codec_sends_viewers_to_negotiate_again(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    publisher, _, _ = await go_live(http, room["id"], ada.headers, codec="VP8")
    viewer = await watch(http, room["id"])
    try:
        async with asyncio.timeout(timeout(15)):
            await viewer.frames(5)
            await publisher.close()
            publisher, _, _ = await go_live(http, room["id"], ada.headers, codec="H264")
            await viewer.gone.wait()  # its VP8 session ends; a player posts a new offer
            again = await watch(http, room["id"])
            counters = await again.frames(5)
            await again.close()
            people = await join(server.ws_url, room["id"])
            await http.post(f"/api/v1/rooms/{room['id']}/end", headers=ada.headers)
            await people.expect("replay.ready")
            await people.close()
        assert counters == sorted(counters)
        replay = (await http.get(f"/api/v1/rooms/{room['id']}/replay")).json()
        # A file holds one codec: the VP8 part and the H.264 part are two recordings.
        assert [r["media_type"] for r in replay["recordings"]] == ["video/webm", "video/mp4"]
    finally:
        await viewer.close()
        await publisher.close()


async def test_a_crowd_joining_at_once_costs_the_publisher_a_few_keyframes_not_one_each(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    publisher, _, _ = await go_live(http, room["id"], ada.headers)
    viewers = []
    try:
        first = await watch(http, room["id"])
        viewers.append(first)
        async with asyncio.timeout(timeout(15)):
            await first.frames(30)
        source = server.hubs.by_room[room["id"]].video
        before, started = source.keyframe_requests, time.monotonic()
        viewers += await asyncio.gather(*(watch(http, room["id"]) for _ in range(8)))
        async with asyncio.timeout(timeout(15)):
            await asyncio.gather(*(v.frames(1) for v in viewers[1:]))
        elapsed = time.monotonic() - started
        asked = source.keyframe_requests - before
        assert 1 <= asked <= elapsed / KEYFRAME_GAP_S + 1
        assert asked < 8
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_offers_are_metered_per_address_and_per_publisher(
    start_server: ServerFactory,
) -> None:
    server = await start_server(limit_watch="60/2", limit_publish="60/2")
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        room = await open_room(http, ada)
        answers = [
            await http.post(f"/whep/rooms/{room['id']}", content=b"v=0\r\n", headers=SDP)
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [400, 400, 429]  # metered before parsing
        assert answers[2].json()["code"] == "rate_limited"
        assert float(answers[2].headers["retry-after"]) > 0
        published = [
            await http.post(
                f"/whip/rooms/{room['id']}", content=b"v=0\r\n", headers={**SDP, **ada.headers}
            )
            for _ in range(3)
        ]
        assert [p.status_code for p in published] == [400, 400, 429]


async def test_a_process_at_its_viewer_limit_says_so_and_when_to_come_back(
    start_server: ServerFactory,
) -> None:
    server = await start_server(max_stream_viewers=1)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        room = await open_room(http, ada)
        publisher, _, _ = await go_live(http, room["id"], ada.headers)
        first = await watch(http, room["id"])
        try:
            _, second = await offer_to_watch(http, room["id"])
            assert second.status_code == 503
            assert second.json()["code"] == "unavailable"
            assert float(second.headers["retry-after"]) > 0
        finally:
            await first.close()
            await publisher.close()


async def test_a_server_told_not_to_record_keeps_no_replay(start_server: ServerFactory) -> None:
    server = await start_server(record=False)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        ada = await sign_up(http, "Ada")
        room = await open_room(http, ada)
        people = await join(server.ws_url, room["id"])
        publisher, _, _ = await go_live(http, room["id"], ada.headers)
        try:
            assert (await people.expect("stream.state", wait=15))["state"] == "live"
            await http.post(f"/api/v1/rooms/{room['id']}/end", headers=ada.headers)
            while (await people.expect("stream.state"))["state"] != "offline":
                pass
            replay = (await http.get(f"/api/v1/rooms/{room['id']}/replay")).json()
            assert replay["recordings"] == []
            assert not (server.settings.data_dir / "recordings").exists()
        finally:
            await publisher.close()
            await people.close()
