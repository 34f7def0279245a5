"""A test card that publishes itself: the demo room's video, through the real WHIP path.

``livecommerce demo`` opens a live room; this gives it a picture before anyone opens the
studio. The clip is encoded once, at start (a few seconds of VP8 colour bars with a moving
ball, and Opus silence), then looped as pre-encoded packets: aiortc's sender packs an
``av.Packet`` without encoding it, so a second of streaming is 80 packets paced, packed and
sent, and nothing more. The camera is an ordinary WHIP client of the server it runs in: it
POSTs its offer over loopback with the creator's token, and DELETEs its session when
stopped.

When the server ends the session on purpose (the creator went live from the studio and
replaced it) the camera stands by: it reads the room once a second and publishes again when
the room's stream is offline (the creator stopped, or left and did not come back within the
grace period), so the demo room is never left without a picture; it gives up when the show
has ended. When its connection fails, or an offer cannot be posted, it publishes again after
a growing delay, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import enum
import fractions
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import av
import httpx
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from livecommerce.media.frames import AUDIO_CLOCK, VIDEO_CLOCK
from livecommerce.media.test_card import CLIP_S, FPS, HEIGHT, WIDTH, blank_card, draw_card

log = logging.getLogger("livecommerce.streams")

AUDIO_PTIME_S = 0.02
CONNECT_TIMEOUT_S = 15.0
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0)  # then it gives up
STANDBY_POLL_S = 1.0  # how often a camera standing by reads the room
_AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_CLOCK)
_SDP = {"Content-Type": "application/sdp"}


# The clip -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """The encoded loop: one VP8 frame per 1/30 s (a keyframe every second, the first one
    too, so the loop starts over cleanly) and one Opus packet per 20 ms."""

    video: tuple[bytes, ...]
    audio: tuple[bytes, ...]


def encode_clip(seconds: int = CLIP_S) -> Clip:
    """Encode the test card once (blocking: run it in a thread)."""
    return Clip(_encode_video(seconds * FPS), _encode_audio(round(1 / AUDIO_PTIME_S)))


def _encode_video(count: int) -> tuple[bytes, ...]:
    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    encoder.time_base = fractions.Fraction(1, FPS)
    encoder.framerate = fractions.Fraction(FPS, 1)
    encoder.bit_rate = 1_000_000
    encoder.gop_size = FPS
    # One packet per frame (no look-ahead, no hidden alt-ref frames), good quality: this
    # runs once, so it can take its time.
    encoder.options = {
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
        "deadline": "good",
        "cpu-used": "2",
        "keyint_min": str(FPS),
        "qmin": "4",
        "qmax": "40",
    }
    background = blank_card()
    packets: list[bytes] = []
    for index in range(count):
        frame = draw_card(index, background)
        frame.pts = index
        frame.time_base = encoder.time_base
        if index % FPS == 0:
            frame.pict_type = av.video.frame.PictureType.I
        packets.extend(bytes(p) for p in encoder.encode(frame))
    packets.extend(bytes(p) for p in encoder.encode(None))
    if len(packets) != count:
        raise RuntimeError(f"libvpx gave {len(packets)} packets for {count} frames")
    return tuple(packets)


def _encode_audio(count: int) -> tuple[bytes, ...]:
    samples = round(AUDIO_CLOCK * AUDIO_PTIME_S)
    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate = AUDIO_CLOCK
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.bit_rate = 32_000
    encoder.time_base = _AUDIO_TIME_BASE
    packets: list[bytes] = []
    silence = bytes(samples * 2 * 2)
    for index in range(count):
        frame = AudioFrame(format="s16", layout="stereo", samples=samples)
        frame.planes[0].update(silence)
        frame.sample_rate = AUDIO_CLOCK
        frame.pts = index * samples
        frame.time_base = _AUDIO_TIME_BASE
        packets.extend(bytes(p) for p in encoder.encode(frame))
    packets.extend(bytes(p) for p in encoder.encode(None))
    return tuple(packets[:count])


# The tracks -----------------------------------------------------------------------------


class _Pacer:
    """The clock both tracks of one connection keep to: media time zero is the first read."""

    def __init__(self) -> None:
        self.origin: float | None = None

    async def wait(self, media_s: float) -> None:
        # Behind (the loop was busy), it returns at once and the track catches up, as
        # aiortc's MediaPlayer does: the media clock stays the loop's clock.
        now = asyncio.get_running_loop().time()
        if self.origin is None:
            self.origin = now
        delay = self.origin + media_s - now
        if delay > 0:
            await asyncio.sleep(delay)


class LoopTrack(MediaStreamTrack):
    """Pre-encoded packets played in a loop, in real time, their clock rising forever.

    aiortc's sender packs a packet as it is (``RTCRtpSender._next_encoded_frame``), so the
    only work per frame is making the ``av.Packet``: the packets must be of the codec the
    connection negotiated, which the camera pins.
    """

    def __init__(
        self, kind: str, packets: Sequence[bytes], step_s: float, clock: int, pacer: _Pacer
    ) -> None:
        super().__init__()
        self.kind = kind
        self.sent = 0
        self._packets = packets
        self._step_s = step_s
        self._ticks = round(step_s * clock)
        self._time_base = fractions.Fraction(1, clock)
        self._pacer = pacer

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        index = self.sent
        self.sent += 1
        await self._pacer.wait(index * self._step_s)
        packet = av.Packet(self._packets[index % len(self._packets)])
        packet.pts = index * self._ticks
        packet.time_base = self._time_base
        return packet


def _codec(kind: str, mime_type: str) -> list[RTCRtpCodecCapability]:
    wanted = (mime_type.lower(), f"{kind}/rtx")
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in wanted]


# The publisher --------------------------------------------------------------------------


class CameraState(enum.StrEnum):
    IDLE = "idle"  # not started
    CONNECTING = "connecting"  # an offer is being posted and answered, ICE and DTLS to go
    LIVE = "live"  # connected: the server receives the test card
    RETRYING = "retrying"  # waiting to publish again
    STANDBY = "standby"  # the studio took over: waiting for the room's stream to go offline
    STOPPED = "stopped"  # stop(), or the server ended the session on purpose
    GAVE_UP = "gave_up"  # refused for good (the show ended, say), or out of retries


_NEXT: dict[CameraState, frozenset[CameraState]] = {
    CameraState.IDLE: frozenset({CameraState.CONNECTING, CameraState.STOPPED}),
    CameraState.CONNECTING: frozenset(
        {
            CameraState.LIVE,
            CameraState.RETRYING,
            CameraState.STANDBY,
            CameraState.STOPPED,
            CameraState.GAVE_UP,
        }
    ),
    CameraState.LIVE: frozenset({CameraState.RETRYING, CameraState.STANDBY, CameraState.STOPPED}),
    CameraState.RETRYING: frozenset(
        {CameraState.CONNECTING, CameraState.STOPPED, CameraState.GAVE_UP}
    ),
    CameraState.STANDBY: frozenset(
        {CameraState.CONNECTING, CameraState.STOPPED, CameraState.GAVE_UP}
    ),
    CameraState.STOPPED: frozenset(),
    CameraState.GAVE_UP: frozenset(),
}


class _End(enum.Enum):
    STOPPED = "stopped"  # stop() was called: the session is DELETEd
    ENDED = "ended"  # the server closed the connection on purpose
    REFUSED = "refused"  # a 4xx that another try would get again
    FAILED = "failed"  # the connection failed or never came, or the offer did not get through


class DemoCamera:
    """Publish the test card to a room over WHIP until stopped, or until the server ends it."""

    def __init__(
        self,
        base_url: str,
        room_id: str,
        token: str,
        *,
        clip: Clip | None = None,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        standby_poll_s: float = STANDBY_POLL_S,
    ) -> None:
        self.base_url = base_url
        self.room_id = room_id
        self.clip = clip
        self.retry_delays_s = tuple(retry_delays_s)
        self.connect_timeout_s = connect_timeout_s
        self.standby_poll_s = standby_poll_s
        self.state = CameraState.IDLE
        self.reached = {state: asyncio.Event() for state in CameraState}
        self.reached[CameraState.IDLE].set()
        self.location: str | None = None  # the current WHIP session
        self.offers = 0
        self._auth = {"Authorization": f"Bearer {token}"}
        self._failures = 0
        self._stopping = False
        # What happens to a connection, and stop(): (the connection or None, what).
        self._inbox: asyncio.Queue[tuple[RTCPeerConnection | None, str]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Encode the clip (in a thread, once) and start publishing; returns before it is
        live (``await camera.reached[CameraState.LIVE].wait()`` for that)."""
        if self._task is not None:
            return
        if self.clip is None:
            self.clip = await asyncio.to_thread(encode_clip)
        self._task = asyncio.create_task(self._run(self.clip), name="demo-camera")

    async def stop(self) -> None:
        """DELETE the session (the room's stream ends with it) and close the connection."""
        if self._task is None:
            if self.state is CameraState.IDLE:
                self._set(CameraState.STOPPED)
            return
        self._stopping = True
        self._inbox.put_nowait((None, "stop"))
        await self._task

    def _set(self, state: CameraState) -> None:
        if state not in _NEXT[self.state]:
            raise RuntimeError(f"demo camera: {self.state} cannot become {state}")
        self.state = state
        self.reached[state].set()
        if state is CameraState.CONNECTING:
            # A new round: "live" and "standby" are to be reached again.
            self.reached[CameraState.LIVE].clear()
            self.reached[CameraState.STANDBY].clear()

    async def _next(self, pc: RTCPeerConnection | None, timeout_s: float | None) -> str:
        """The next thing that happens to this connection or to the camera: "connected",
        "failed", "closed", "stop", or "timeout"."""
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    source, what = await self._inbox.get()
                    if source is None or source is pc:
                        return what
        except TimeoutError:
            return "timeout"

    async def _run(self, clip: Clip) -> None:
        try:
            await self._publish(clip)
        except Exception:
            # A demo nicety must not take the server down with it, nor its shutdown.
            log.exception("demo camera failed", extra={"room": self.room_id})
            self.state = CameraState.GAVE_UP
            self.reached[CameraState.GAVE_UP].set()

    async def _publish(self, clip: Clip) -> None:
        # trust_env=False: a proxy from the environment must not carry a loopback request.
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10, trust_env=False) as http:
            while True:
                self._set(CameraState.CONNECTING)
                end, retry_after_s = await self._session(http, clip)
                if end is _End.STOPPED:
                    self._set(CameraState.STOPPED)
                    return
                if end is _End.ENDED:
                    self._set(CameraState.STANDBY)
                    after = await self._stand_by(http)
                    if after is not CameraState.CONNECTING:
                        self._set(after)
                        return
                    self._failures = 0
                    continue
                if end is _End.REFUSED:
                    self._set(CameraState.GAVE_UP)
                    return
                self._failures += 1
                if self._failures > len(self.retry_delays_s):
                    log.warning(
                        "demo camera gave up", extra={"room": self.room_id, "tries": self.offers}
                    )
                    self._set(CameraState.GAVE_UP)
                    return
                self._set(CameraState.RETRYING)
                delay = max(self.retry_delays_s[self._failures - 1], retry_after_s)
                if await self._next(None, delay) == "stop":
                    self._set(CameraState.STOPPED)
                    return

    async def _stand_by(self, http: httpx.AsyncClient) -> CameraState:
        """Wait while someone else publishes: CONNECTING when the room's stream is offline
        (the test card is wanted again), STOPPED on stop(), GAVE_UP once the show is over."""
        while True:
            if await self._next(None, self.standby_poll_s) == "stop":
                return CameraState.STOPPED
            try:
                response = await http.get(f"/api/v1/rooms/{self.room_id}", headers=self._auth)
            except httpx.TransportError:
                continue  # the server is restarting, say: look again
            if response.status_code == 404:
                return CameraState.GAVE_UP
            if response.status_code != 200:
                continue
            room = response.json()
            if room.get("state") == "ended":
                return CameraState.GAVE_UP
            if room.get("stream") == "offline":
                log.info("demo camera takes the stream back", extra={"room": self.room_id})
                return CameraState.CONNECTING

    async def _session(self, http: httpx.AsyncClient, clip: Clip) -> tuple[_End, float]:
        """One WHIP session, from the offer to its end; how it ended, and the least wait
        before the next offer."""
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # loopback: host candidates
        try:
            pacer = _Pacer()
            video = LoopTrack("video", clip.video, 1 / FPS, VIDEO_CLOCK, pacer)
            audio = LoopTrack("audio", clip.audio, AUDIO_PTIME_S, AUDIO_CLOCK, pacer)
            for track, mime_type in ((video, "video/VP8"), (audio, "audio/opus")):
                transceiver = pc.addTransceiver(track, direction="sendonly")
                transceiver.setCodecPreferences(_codec(track.kind, mime_type))

            @pc.on("connectionstatechange")
            def on_state() -> None:
                if pc.connectionState in ("connected", "failed", "closed"):
                    self._inbox.put_nowait((pc, pc.connectionState))

            await pc.setLocalDescription(await pc.createOffer())
            if self._stopping:
                return _End.STOPPED, 0.0
            self.offers += 1
            try:
                response = await http.post(
                    f"/whip/rooms/{self.room_id}",
                    content=pc.localDescription.sdp,
                    headers={**_SDP, **self._auth},
                )
            except httpx.TransportError as exc:
                log.warning(
                    "demo camera cannot reach the server",
                    extra={"room": self.room_id, "error": repr(exc)},
                )
                return _End.FAILED, 0.0
            if response.status_code != 201:
                return self._refused(response)
            location = response.headers["location"]
            self.location = location
            await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
            what = await self._next(pc, self.connect_timeout_s)
            if what == "connected":
                self._failures = 0
                self._set(CameraState.LIVE)
                log.info("demo camera is live", extra={"room": self.room_id})
                what = await self._next(pc, None)
            if what == "stop":
                await self._delete(http, location)
                return _End.STOPPED, 0.0
            if what == "closed":
                # The server closes on purpose: the studio replaced us, the show ended, or
                # the server is stopping. Stand by until the room has no stream again.
                log.info("demo camera's session ended by the server", extra={"room": self.room_id})
                return _End.ENDED, 0.0
            log.warning(
                "demo camera's connection failed", extra={"room": self.room_id, "how": what}
            )
            return _End.FAILED, 0.0
        finally:
            self.location = None
            await pc.close()

    def _refused(self, response: httpx.Response) -> tuple[_End, float]:
        extra = {"room": self.room_id, "status": response.status_code, "body": response.text}
        if response.status_code == 429 or response.status_code >= 500:
            log.warning("demo camera's offer was turned away", extra=extra)
            try:
                return _End.FAILED, float(response.headers.get("retry-after", "0"))
            except ValueError:
                return _End.FAILED, 0.0
        log.warning("demo camera's offer was refused", extra=extra)
        return _End.REFUSED, 0.0

    async def _delete(self, http: httpx.AsyncClient, location: str) -> None:
        try:
            response = await http.delete(location, headers=self._auth)
        except httpx.TransportError as exc:
            log.warning("demo camera could not end its session", extra={"error": repr(exc)})
            return
        if response.status_code != 200:
            log.warning(
                "demo camera could not end its session",
                extra={"status": response.status_code, "body": response.text},
            )
