"""A live room's media: the publisher's frames in, every viewer's copy out, no transcoding.

One hub per live room on the process that holds the publication. It outlives publisher
connections: when the publisher drops, viewers keep their connections and see
"reconnecting" until the same host publishes again (the timeline keeps their clocks rising)
or the grace period runs out. Keyframe requests from every viewer are merged into at most
one PLI to the publisher per ``KEYFRAME_GAP_S``, so a crowd of late joiners or one viewer
on a lossy link cannot make everyone's picture a stream of keyframes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from aiortc import RTCRtpReceiver

from livecommerce.media import taps
from livecommerce.media.frames import EncodedFrame, Timeline, is_keyframe
from livecommerce.media.recording import Recorder, Recording
from livecommerce.runtime import metrics
from livecommerce.runtime.lifecycle import stop_task

log = logging.getLogger("livecommerce.streams")

KEYFRAME_GAP_S = 0.5
IDLE_S = 2.0  # no video for this long: the publisher is away, whatever ICE says yet
GRACE_S = 30.0  # how long viewers wait for a publisher that dropped


class StreamState(enum.StrEnum):
    OFFLINE = "offline"
    LIVE = "live"
    RECONNECTING = "reconnecting"


class Sink(Protocol):
    """A viewer's track, as a source feeds it."""

    def push(self, frame: EncodedFrame) -> bool: ...

    def resync(self) -> None: ...

    def end(self) -> None: ...


StateListener = Callable[[str, StreamState], Awaitable[None]]
RecordingListener = Callable[[str, Recording], Awaitable[None]]
RoomListener = Callable[[str, bool], Awaitable[None]]  # room id, and whether an edge


class Source:
    """One kind of a room's media: the current publisher's receiver in, viewers out."""

    def __init__(self, kind: str, on_frame: Callable[[EncodedFrame], None]) -> None:
        self.kind = kind
        self.codec: str | None = None
        self.sinks: set[Sink] = set()
        self.timeline = Timeline(kind)
        self.frames_in = 0
        self.packets_out = 0
        self.keyframe_requests = 0
        self._on_frame = on_frame
        self._receiver: RTCRtpReceiver | None = None
        self._media_ssrc: Callable[[], int | None] = lambda: None
        self._picture_id = 0
        self._last_request = -KEYFRAME_GAP_S
        self._pending: asyncio.Task[None] | None = None
        self._frames_metric = metrics.MEDIA_FRAMES_IN.labels(kind)
        self._packets_metric = metrics.MEDIA_PACKETS_OUT.labels(kind)

    def attach(self, receiver: RTCRtpReceiver) -> None:
        self._receiver = receiver
        self._media_ssrc = taps.tap(receiver, self.kind, self._frame)
        self.timeline.restart()
        for sink in self.sinks:
            sink.resync()

    def _frame(self, codec: str, data: bytes, timestamp: int) -> None:
        arrival = time.monotonic()
        self.codec = codec
        payloads = taps.packetize(codec, data, self._picture_id)
        self._picture_id = (self._picture_id + 1) & 0x7FFF
        frame = EncodedFrame(
            self.kind,
            codec,
            data,
            self.timeline.place(timestamp, arrival),
            is_keyframe(codec, data),
            arrival,
            payloads,
        )
        self.frames_in += 1
        if frame.keyframe and self._pending is not None:
            self._pending.cancel()  # what a deferred request would have asked for is here
        taken = 0
        for sink in self.sinks:
            if sink.push(frame):
                taken += 1
        self.packets_out += taken * len(payloads)
        self._frames_metric.inc()
        self._packets_metric.inc(taken * len(payloads))
        self._on_frame(frame)

    def request_keyframe(self) -> None:
        """A viewer needs a keyframe: ask the publisher, at most once per gap."""
        if self.kind != "video" or self._receiver is None:
            return
        now = time.monotonic()
        if now - self._last_request < KEYFRAME_GAP_S:
            if self._pending is None or self._pending.done():
                # The answer to the last one may already be on its way; if not, this one
                # goes out when the gap is over.
                self._pending = asyncio.ensure_future(
                    self._later(self._last_request + KEYFRAME_GAP_S - now)
                )
            return
        media_ssrc = self._media_ssrc()
        if media_ssrc is None:
            return
        self._last_request = now
        self.keyframe_requests += 1
        metrics.KEYFRAME_REQUESTS.inc()
        task = asyncio.ensure_future(taps.request_keyframe(self._receiver, media_ssrc))
        task.add_done_callback(_quiet)

    async def _later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.request_keyframe()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        for sink in list(self.sinks):
            sink.end()
        self.sinks.clear()


def _quiet(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("keyframe request failed: %s", task.exception())


class Hub:
    """A room's media while it is live on this process."""

    def __init__(
        self,
        room_id: str,
        *,
        recorder: Callable[[], Recorder | None],
        on_state: StateListener,
        on_recording: RecordingListener,
        on_stopped: Callable[[Hub], Awaitable[None]] | None = None,
        idle_s: float = IDLE_S,
        grace_s: float = GRACE_S,
        edge: bool = False,
    ) -> None:
        self.room_id = room_id
        self.edge = edge
        self._on_stopped = on_stopped
        self.video = Source("video", self._frame)
        self.audio = Source("audio", self._frame)
        self.state = StreamState.OFFLINE
        self.video_codec: str | None = None  # what viewers must take; fixed by the publisher
        self.publishing = False
        self.stopped = asyncio.Event()
        self._new_recorder = recorder
        self._recorder = recorder()
        self._keeping: set[asyncio.Task[None]] = set()
        self._on_state = on_state
        self._on_recording = on_recording
        self._idle_s = idle_s
        self._grace_s = grace_s
        self._quiet_since = time.monotonic()  # the last video frame, or the last (re)start
        self._announced = StreamState.OFFLINE
        self._announcer: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[None] | None = None
        self._watch = asyncio.ensure_future(self._watchdog())

    def source(self, kind: str) -> Source:
        return self.video if kind == "video" else self.audio

    def attach(self, kind: str, receiver: RTCRtpReceiver, codec: str) -> None:
        """A publisher connection's track: its frames are this room's from now on."""
        if kind == "video":
            if self.video_codec not in (None, codec):
                # Viewers negotiated the old codec: they reconnect and negotiate the new.
                # A file holds one codec: the old recording is finished, a new one begins.
                self.video.close()
                old, self._recorder = self._recorder, self._new_recorder()
                if old is not None:
                    task = asyncio.ensure_future(self._keep(old))
                    self._keeping.add(task)
                    task.add_done_callback(self._keeping.discard)
            self.video_codec = codec
        self.publishing = True
        self._quiet_since = time.monotonic()
        self.source(kind).attach(receiver)
        if kind == "video" and self._recorder is not None:
            self._recorder.restart()

    def publisher_lost(self) -> None:
        """The publisher's connection is gone; viewers wait for the next one."""
        self.publishing = False
        self._quiet_since = time.monotonic()
        if self.state is StreamState.LIVE:
            self._set(StreamState.RECONNECTING)

    def _frame(self, frame: EncodedFrame) -> None:
        if self.stopped.is_set():
            return
        if self._recorder is not None:
            self._recorder.frame(
                frame.kind, frame.codec, frame.data, frame.timestamp, frame.keyframe, frame.arrival
            )
        if frame.kind == "video":
            self._quiet_since = frame.arrival
            if self.state is not StreamState.LIVE and self.publishing:
                self._set(StreamState.LIVE)

    async def _watchdog(self) -> None:
        """Frames stopping is how a vanished publisher shows first; ICE notices much later.

        Without video for ``idle_s`` the stream is reconnecting; without it for ``grace_s``
        (connected or not: a publisher that stays connected and sends nothing is gone too)
        the stream ends.
        """
        while True:
            await asyncio.sleep(min(self._idle_s, self._grace_s) / 4)
            quiet = time.monotonic() - self._quiet_since
            if self.state is StreamState.LIVE and quiet > self._idle_s:
                self._set(StreamState.RECONNECTING)
            if self.state is not StreamState.LIVE and quiet > self._grace_s:
                break
        # Outside the loop: stop() cancels this task and waits for it.
        self._ending = asyncio.ensure_future(self.stop("publisher_gone"))

    def _set(self, state: StreamState) -> None:
        self.state = state
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.ensure_future(self._announce())

    async def _announce(self) -> None:
        """Tell the room each change, in order, one at a time."""
        while self._announced is not self.state:
            state = self.state
            try:
                await self._on_state(self.room_id, state)
            except Exception:
                log.exception("stream state not announced", extra={"room": self.room_id})
            self._announced = state

    async def _keep(self, recorder: Recorder) -> None:
        try:
            recording = await recorder.close()
            if recording is not None:
                await self._on_recording(self.room_id, recording)
        except Exception:
            log.exception("recording not kept", extra={"room": self.room_id})

    async def stop(self, reason: str) -> None:
        """The show (or this stream of it) is over: viewers end, the recording is kept."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        await stop_task(self._watch)
        self.video.close()
        self.audio.close()
        self._set(StreamState.OFFLINE)
        with contextlib.suppress(Exception):
            if self._announcer is not None:
                await self._announcer
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            await self._keep(recorder)
        if self._keeping:
            await asyncio.gather(*self._keeping, return_exceptions=True)
        log.info("stream stopped", extra={"room": self.room_id, "reason": reason})
        if self._on_stopped is not None:
            try:
                await self._on_stopped(self)
            except Exception:
                log.exception("stream stop not reported", extra={"room": self.room_id})


async def _unannounced(room_id: str, state: StreamState) -> None:
    """An edge's state is the origin's to announce."""


class Hubs:
    """This process's live rooms' media."""

    def __init__(
        self,
        *,
        recordings: Path | None,
        on_state: StateListener,
        on_recording: RecordingListener,
        idle_s: float = IDLE_S,
        grace_s: float = GRACE_S,
        on_open: RoomListener | None = None,
        on_close: RoomListener | None = None,
    ) -> None:
        self.on_open = on_open
        self.on_close = on_close
        self.recordings = recordings
        self.on_state = on_state
        self.on_recording = on_recording
        self.idle_s = idle_s
        self.grace_s = grace_s
        self.by_room: dict[str, Hub] = {}

    async def open(self, room_id: str, *, edge: bool = False) -> Hub:
        """The room's hub, started if it has none (or its last one has stopped).

        An *edge* hub carries a stream another process publishes, pulled from there for
        this process's viewers: it neither records nor speaks for the room. A publisher
        arriving here takes over from an edge (its viewers negotiate again).
        """
        hub = self.live(room_id)
        if hub is not None and (edge or not hub.edge):
            return hub
        if hub is not None:
            await hub.stop("publisher_here")
        if self.on_open is not None:
            await self.on_open(room_id, edge)

        def recorder() -> Recorder | None:
            if self.recordings is None or edge:
                return None
            return Recorder(self.recordings, f"{room_id}-{int(time.time() * 1000)}")

        hub = Hub(
            room_id,
            recorder=recorder,
            on_state=_unannounced if edge else self.on_state,
            on_recording=self.on_recording,
            on_stopped=self._stopped,
            idle_s=self.idle_s,
            grace_s=self.grace_s,
            edge=edge,
        )
        self.by_room[room_id] = hub
        return hub

    def live(self, room_id: str) -> Hub | None:
        hub = self.by_room.get(room_id)
        return hub if hub is not None and not hub.stopped.is_set() else None

    async def _stopped(self, hub: Hub) -> None:
        if self.by_room.get(hub.room_id) is hub:
            del self.by_room[hub.room_id]
        if self.on_close is not None:
            await self.on_close(hub.room_id, hub.edge)

    async def stop(self, room_id: str, reason: str) -> None:
        hub = self.by_room.get(room_id)
        if hub is not None:
            await hub.stop(reason)

    async def close(self) -> None:
        for room_id in list(self.by_room):
            await self.stop(room_id, "shutdown")
