"""The demo room's test card: the server's own camera publishes it over WHIP, viewers watch it
over WHEP, and it gets out of the way when the host goes live or the server goes away."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from fractions import Fraction

import httpx
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from livecommerce.demo import create_demo
from livecommerce.media import demo_camera, test_card
from livecommerce.media.demo_camera import CameraState, Clip, DemoCamera, encode_clip
from livecommerce.media.frames import is_keyframe
from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import join
from tests.livecommerce.conftest import ServerFactory
from tests.livecommerce.media.peers import SDP, accept, go_live


@pytest.fixture(scope="module")
def clip() -> Clip:
    return encode_clip()


@dataclass
class Demo:
    server: Server
    room_id: str
    token: str
    http: httpx.AsyncClient


@pytest.fixture
async def demo(server: Server, http: httpx.AsyncClient) -> Demo:
    tokens, room_id = await create_demo(server)
    return Demo(server, room_id, tokens["creator"], http)


@pytest.fixture
async def camera(demo: Demo, clip: Clip) -> AsyncIterator[DemoCamera]:
    camera = DemoCamera(demo.server.http_url, demo.room_id, demo.token, clip=clip)
    yield camera
    await camera.stop()


@dataclass
class Screen:
    """A WHEP player that keeps what it decodes: each frame's timestamp, the ball's place
    on its track, and the brightness of the seven bars."""

    pc: RTCPeerConnection
    pts: list[int] = field(default_factory=list)
    balls: list[int] = field(default_factory=list)
    bars: list[list[int]] = field(default_factory=list)
    audio_frames: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def frames(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.pts) >= count)

    async def read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if not isinstance(frame, VideoFrame):
                    self.audio_frames += 1
                    continue
                assert frame.pts is not None
                luma = frame.planes[0]
                data = bytes(luma)
                row = data[test_card.TRACK_Y * luma.line_size :][: frame.width]
                orange = [x for x, y in enumerate(row) if 120 < y < 190]
                async with self.changed:
                    self.pts.append(frame.pts)
                    self.balls.append(sum(orange) // max(len(orange), 1))
                    middle = 100 * luma.line_size
                    self.bars.append(
                        [data[middle + (2 * i + 1) * frame.width // 14] for i in range(7)]
                    )
                    self.changed.notify_all()
        except MediaStreamError:
            pass

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()


async def watch_screen(http: httpx.AsyncClient, room_id: str) -> Screen:
    screen = Screen(RTCPeerConnection())
    screen.pc.addTransceiver("video", direction="recvonly")
    screen.pc.addTransceiver("audio", direction="recvonly")

    @screen.pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        screen.tasks.append(asyncio.ensure_future(screen.read(track)))

    await screen.pc.setLocalDescription(await screen.pc.createOffer())
    answer = await http.post(
        f"/whep/rooms/{room_id}", content=screen.pc.localDescription.sdp, headers=SDP
    )
    assert answer.status_code == 201, answer.text
    await accept(screen.pc, answer.text)
    return screen


def test_the_clip_loops_from_a_keyframe_with_one_every_second(clip: Clip) -> None:
    keyframes = [i for i, frame in enumerate(clip.video) if is_keyframe("VP8", frame)]
    assert keyframes == list(range(0, test_card.CLIP_S * test_card.FPS, test_card.FPS))
    assert len(clip.audio) == 50  # a second of 20 ms Opus packets
    assert sum(map(len, clip.video)) * 8 / test_card.CLIP_S < 1_000_000  # bits per second


async def test_the_loop_starts_over_with_its_clock_still_rising() -> None:
    pacer = demo_camera._Pacer()
    track = demo_camera.LoopTrack("video", [b"a", b"b", b"c"], 0.001, 90_000, pacer)
    packets = [await track.recv() for _ in range(7)]
    assert [bytes(p) for p in packets] == [b"a", b"b", b"c", b"a", b"b", b"c", b"a"]
    assert [p.pts for p in packets] == [0, 90, 180, 270, 360, 450, 540]
    assert all(p.time_base == Fraction(1, 90_000) for p in packets)
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_the_demo_room_streams_a_test_card_that_viewers_watch(
    demo: Demo, camera: DemoCamera
) -> None:
    people = await join(demo.server.ws_url, demo.room_id)
    try:
        assert people.seen[0]["room"]["stream"] == "offline"
        await camera.start()
        async with asyncio.timeout(timeout(15)):
            assert (await people.expect("stream.state"))["state"] == "live"
        room = (await demo.http.get(f"/api/v1/rooms/{demo.room_id}")).json()
        assert room["stream"] == "live"
        assert camera.state is CameraState.LIVE
    finally:
        await people.close()
    screen = await watch_screen(demo.http, demo.room_id)
    try:
        async with asyncio.timeout(timeout(15)):
            await screen.frames(45)
        assert screen.pts == sorted(set(screen.pts)), screen.pts  # every frame newer
        assert len(set(screen.balls)) > 20  # the ball moves
        expected = [colour[0] for colour in test_card.BARS]
        for bars in screen.bars:
            assert all(abs(seen - want) < 12 for seen, want in zip(bars, expected, strict=True))
        assert screen.audio_frames > 0
    finally:
        await screen.close()


async def test_stopping_the_camera_deletes_its_session(demo: Demo, camera: DemoCamera) -> None:
    people = await join(demo.server.ws_url, demo.room_id)
    try:
        await camera.start()
        async with asyncio.timeout(timeout(15)):
            assert (await people.expect("stream.state"))["state"] == "live"
        assert camera.location is not None
        session_id = camera.location.rsplit("/", 1)[-1]
        publications = demo.server.publications
        assert publications.by_room[demo.room_id].id == session_id
        await camera.stop()
        assert session_id not in publications.by_id
        assert demo.room_id not in publications.by_room
        assert camera.state is CameraState.STOPPED
        assert camera.location is None
        async with asyncio.timeout(timeout(15)):
            assert (await people.expect("stream.state"))["state"] == "offline"
    finally:
        await people.close()


async def test_the_creator_going_live_from_the_studio_retires_the_camera(
    demo: Demo, clip: Clip
) -> None:
    camera = DemoCamera(
        demo.server.http_url, demo.room_id, demo.token, clip=clip, standby_poll_s=0.05
    )
    await camera.start()
    async with asyncio.timeout(timeout(15)):
        await camera.reached[CameraState.LIVE].wait()
    headers = {"Authorization": f"Bearer {demo.token}"}
    studio, _, location = await go_live(demo.http, demo.room_id, headers)
    try:
        async with asyncio.timeout(timeout(15)):
            await camera.reached[CameraState.STANDBY].wait()
        people = await join(demo.server.ws_url, demo.room_id)
        await people.expect("stream.state", lambda e: e["state"] == "live", wait=15)
        publication = demo.server.publications.by_room[demo.room_id]
        assert location.endswith(publication.id)
        assert camera.offers == 1  # it does not fight a live studio for the room

        # The creator stops: the test card is back on the stream.
        stopped = await demo.http.delete(location, headers=headers)
        assert stopped.status_code == 200
        await people.expect("stream.state", lambda e: e["state"] == "offline")
        await people.expect("stream.state", lambda e: e["state"] == "live", wait=15)
        assert camera.state is CameraState.LIVE
        assert camera.offers == 2
        await people.close()
    finally:
        await studio.close()
        await camera.stop()


async def test_a_studio_that_leaves_shows_the_host_reconnecting_then_the_test_card(
    start_server: ServerFactory, clip: Clip
) -> None:
    server = await start_server(stream_idle_s=0.5, stream_grace_s=2.0)
    tokens, room_id = await create_demo(server)
    camera = DemoCamera(server.http_url, room_id, tokens["creator"], clip=clip,
                        standby_poll_s=0.05)  # fmt: skip
    headers = {"Authorization": f"Bearer {tokens['creator']}"}
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        await camera.start()
        async with asyncio.timeout(timeout(15)):
            await camera.reached[CameraState.LIVE].wait()
        studio, _, location = await go_live(http, room_id, headers)
        people = await join(server.ws_url, room_id)
        try:
            async with asyncio.timeout(timeout(15)):
                await camera.reached[CameraState.STANDBY].wait()
            await people.expect("stream.state", lambda e: e["state"] == "live", wait=15)

            # The studio's page goes away (a reload, a closed tab): the host is reconnecting.
            left = await http.delete(f"{location}?reason=leaving", headers=headers)
            assert left.status_code == 200
            assert (await people.expect("stream.state"))["state"] == "reconnecting"
            assert camera.state is CameraState.STANDBY
            # Nobody came back within the grace period: the test card takes over again.
            assert (await people.expect("stream.state", wait=15))["state"] == "offline"
            await people.expect("stream.state", lambda e: e["state"] == "live", wait=15)
            assert camera.reached[CameraState.LIVE].is_set()
            assert camera.offers == 2
        finally:
            await people.close()
            await studio.close()
            await camera.stop()


async def test_a_session_ends_only_for_a_reason_the_server_knows(
    demo: Demo, camera: DemoCamera
) -> None:
    await camera.start()
    async with asyncio.timeout(timeout(15)):
        await camera.reached[CameraState.LIVE].wait()
    assert camera.location is not None
    headers = {"Authorization": f"Bearer {demo.token}"}
    refused = await demo.http.delete(f"{camera.location}?reason=whatever", headers=headers)
    assert refused.status_code == 400
    assert refused.json()["code"] == "bad_request"
    assert demo.room_id in demo.server.publications.by_room


async def test_a_camera_standing_by_gives_up_when_the_show_ends(demo: Demo, clip: Clip) -> None:
    camera = DemoCamera(
        demo.server.http_url, demo.room_id, demo.token, clip=clip, standby_poll_s=0.05
    )
    await camera.start()
    async with asyncio.timeout(timeout(15)):
        await camera.reached[CameraState.LIVE].wait()
    headers = {"Authorization": f"Bearer {demo.token}"}
    studio, _, _ = await go_live(demo.http, demo.room_id, headers)
    try:
        async with asyncio.timeout(timeout(15)):
            await camera.reached[CameraState.STANDBY].wait()
        ended = await demo.http.post(f"/api/v1/rooms/{demo.room_id}/end", headers=headers)
        assert ended.status_code == 200, ended.text
        async with asyncio.timeout(timeout(15)):
            await camera.reached[CameraState.GAVE_UP].wait()
        assert camera.offers == 1
    finally:
        await studio.close()
        await camera.stop()


async def test_a_camera_for_an_ended_show_gives_up_at_once(demo: Demo, clip: Clip) -> None:
    headers = {"Authorization": f"Bearer {demo.token}"}
    ended = await demo.http.post(f"/api/v1/rooms/{demo.room_id}/end", headers=headers)
    assert ended.status_code == 200, ended.text
    camera = DemoCamera(demo.server.http_url, demo.room_id, demo.token, clip=clip)
    await camera.start()
    async with asyncio.timeout(timeout(15)):
        await camera.reached[CameraState.GAVE_UP].wait()
    assert camera.offers == 1  # 409 room_not_live: another offer would get the same
    await camera.stop()


async def test_the_camera_publishes_again_when_the_server_is_back(
    start_server: ServerFactory, clip: Clip
) -> None:
    first = await start_server()
    tokens, room_id = await create_demo(first)
    port = first.http_port
    await first.stop()  # the room stays live in the store, the token good on the next one
    camera = DemoCamera(
        f"http://127.0.0.1:{port}",
        room_id,
        tokens["creator"],
        clip=clip,
        retry_delays_s=[0.05] * 100,
    )
    try:
        await camera.start()
        async with asyncio.timeout(timeout(15)):
            await camera.reached[CameraState.RETRYING].wait()  # nobody is listening
        second = await start_server(port=port)
        async with asyncio.timeout(timeout(15)):
            await camera.reached[CameraState.LIVE].wait()
        assert camera.offers > 1
        assert room_id in second.publications.by_room
    finally:
        await camera.stop()


async def test_a_camera_turned_away_waits_as_told_and_still_stops_at_once(
    start_server: ServerFactory, clip: Clip
) -> None:
    server = await start_server(limit_publish="1/1")  # one offer a minute
    tokens, room_id = await create_demo(server)
    first = DemoCamera(server.http_url, room_id, tokens["creator"], clip=clip)
    await first.start()
    async with asyncio.timeout(timeout(15)):
        await first.reached[CameraState.LIVE].wait()
    await first.stop()
    second = DemoCamera(
        server.http_url, room_id, tokens["creator"], clip=clip, retry_delays_s=[0.01] * 3
    )
    await second.start()
    async with asyncio.timeout(timeout(15)):
        await second.reached[CameraState.RETRYING].wait()  # 429: Retry-After, not 10 ms
    async with asyncio.timeout(timeout(5)):
        await second.stop()
    assert second.state is CameraState.STOPPED
    assert second.offers == 1


async def test_the_camera_gives_up_after_its_retries(clip: Clip) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = unused.getsockname()[1]
        camera = DemoCamera(
            f"http://127.0.0.1:{port}", "r_nowhere", "t", clip=clip, retry_delays_s=[0.01] * 3
        )
        await camera.start()
        async with asyncio.timeout(timeout(15)):
            await camera.reached[CameraState.GAVE_UP].wait()
    assert camera.offers == 4
    await camera.stop()
    assert camera.state is CameraState.GAVE_UP
