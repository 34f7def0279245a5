"""Record a live session to a file a browser plays, by remuxing the frames the hub forwards.

Nothing is decoded or re-encoded: the publisher's encoded frames go into the container as they
are, which costs next to no CPU. VP8+Opus becomes WebM and H.264+Opus becomes MP4 (the MP4 muxer
refuses VP8, and browsers do not play H.264 in WebM).

The hub calls :meth:`Recorder.frame` on the event loop, where an exception would tear down the
publisher's connection and a blocking call would stall every room. So the loop side only decides
which frames to keep and stamps them; one muxer thread per recording does the container work,
fed through a bounded queue that drops (and, for video, waits for the next keyframe) rather
than grow or block.

Audio and video RTP clocks are unrelated and restart at zero when the publisher reconnects, so
each run of a stream's timestamps (a segment) is anchored on the file's timeline by the arrival
time of its first frame; within a segment the publisher's own timestamps keep the frame spacing.

A recording keeps the video codec of its first keyframe. If a reconnecting publisher switches
codec (VP8, then H.264), frames of the other codec are ignored and logged once: one file cannot
hold both, and the hub can start a new Recorder for the new codec.

A live MP4 is written fragmented so a crash leaves a playable file; on close it is remuxed once
to a faststart MP4 (the index first), which browsers can seek without fetching the whole file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
from av.audio.stream import AudioStream
from av.stream import Stream

from livecommerce.media.frames import vp8_size

log = logging.getLogger("livecommerce.streams")

VIDEO_RATE = 90_000
AUDIO_RATE = 48_000
RESYNC_S = 5.0
"""A stream whose timestamps stray this far from its arrival times is re-anchored: a publisher
that jumps its clock without reconnecting must not push later frames out of order."""

_CONTAINERS = {"vp8": (".webm", "video/webm"), "h264": (".mp4", "video/mp4")}
# flush_packets: what the muxer wrote reaches the disk now, not when a 256 KiB buffer fills.
_LIVE = {"flush_packets": "1"}
# delay_moov: without it the MP4 muxer moves each track's first sample to time zero, so audio
# that began after the first keyframe would lose its offset.
_FRAGMENTED = _LIVE | {"movflags": "frag_keyframe+empty_moov+default_base_moof+delay_moov"}
_WRAP = 1 << 32
_HALF = 1 << 31


@dataclass(frozen=True)
class Recording:
    path: Path
    media_type: str
    started_at_ms: int
    """Wall clock of the file's time zero, so room events map to ``event_ms - started_at_ms``."""
    ended_at_ms: int
    """Wall clock of the last recorded frame, not of close(), which may come much later."""
    video_frames: int
    audio_frames: int


class _Packet(NamedTuple):
    kind: str
    data: bytes
    pts: int
    keyframe: bool


class _Timeline:
    """One stream's RTP clock placed on the file's timeline, in stream units."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.origin: int | None = None
        self.elapsed = 0
        self.raw = 0
        self.last = -1

    def rebase(self) -> None:
        self.origin = None

    def pts(self, timestamp: int, since_t0: float) -> int:
        arrived = max(0, round(since_t0 * self.rate))
        pts = arrived
        if self.origin is not None:
            # Differences modulo 2**32 survive both wrapped and already extended timestamps.
            self.elapsed += (timestamp - self.raw + _HALF) % _WRAP - _HALF
            pts = self.origin + self.elapsed
            if abs(pts - arrived) > RESYNC_S * self.rate:
                self.origin = None
        if self.origin is None:
            self.origin, self.elapsed, pts = arrived, 0, arrived
        self.raw = timestamp
        self.last = max(pts, self.last + 1)
        return self.last


def _can_start(codec: str, data: bytes) -> bool:
    """Whether a keyframe carries what the container header needs (size, parameter sets)."""
    if codec == "vp8":
        return vp8_size(data) is not None
    return any(data[i + 3] & 0x1F == 7 for i in _start_codes(data))


def _start_codes(data: bytes) -> list[int]:
    found, i = [], data.find(b"\x00\x00\x01")
    while 0 <= i < len(data) - 3:
        found.append(i)
        i = data.find(b"\x00\x00\x01", i + 3)
    return found


def _h264_size(data: bytes) -> tuple[int, int] | None:
    """Decode the first keyframe once: simpler and sturdier than an SPS parser (cropping, VUI)."""
    decoder = av.CodecContext.create("h264", "r")
    try:
        frames = decoder.decode(av.Packet(data)) or decoder.decode(None)
    except av.FFmpegError:
        return None
    return (frames[0].width, frames[0].height) if frames else None


class _File(NamedTuple):
    out: av.container.OutputContainer
    video: Stream
    audio: AudioStream


class _Muxer:
    """The container side, used only by the muxer thread."""

    def __init__(self, path: Path, codec: str, started_at_ms: int) -> None:
        self.path = path
        self.codec = codec
        self.started_at_ms = started_at_ms
        self.file: _File | None = None
        self.counts = {"video": 0, "audio": 0}
        self.ends = {"video": 0.0, "audio": 0.0}

    def write(self, packet: _Packet) -> None:
        if self.file is None:
            if packet.kind != "video" or not packet.keyframe:
                return
            self.file = self._open(packet.data)
            if self.file is None:
                return
        out = av.Packet(packet.data)
        stream, rate = (
            (self.file.video, VIDEO_RATE)
            if packet.kind == "video"
            else (self.file.audio, AUDIO_RATE)
        )
        out.stream, out.time_base = stream, Fraction(1, rate)
        out.pts = out.dts = packet.pts
        out.is_keyframe = packet.keyframe
        self.file.out.mux(out)
        self.counts[packet.kind] += 1
        self.ends[packet.kind] = packet.pts / rate

    def _open(self, keyframe: bytes) -> _File | None:
        size = vp8_size(keyframe) if self.codec == "vp8" else _h264_size(keyframe)
        if size is None:
            log.warning("recording %s: a keyframe without a readable size", self.path.name)
            return None
        options = _FRAGMENTED if self.codec == "h264" else _LIVE
        out = av.open(str(self.path), "w", options=options)
        video = out.add_mux_stream(self.codec, width=size[0], height=size[1])
        video.time_base = Fraction(1, VIDEO_RATE)
        # An Opus stream needs its OpusHead header, which only an (unused) encoder provides.
        audio = out.add_stream("opus", rate=AUDIO_RATE)
        audio.time_base = Fraction(1, AUDIO_RATE)
        return _File(out, video, audio)

    def finish(self) -> Recording | None:
        if self.file is None:
            return None
        self.file.out.close()
        if self.codec == "h264":
            try:
                _faststart(self.path)
            except Exception:
                log.exception("recording %s: faststart failed, kept fragmented", self.path.name)
        return Recording(
            path=self.path,
            media_type=_CONTAINERS[self.codec][1],
            started_at_ms=self.started_at_ms,
            ended_at_ms=self.started_at_ms + round(max(self.ends.values()) * 1000),
            video_frames=self.counts["video"],
            audio_frames=self.counts["audio"],
        )


def _faststart(path: Path) -> None:
    temporary = path.with_name(path.name + ".faststart")
    try:
        with (
            av.open(str(path)) as source,
            av.open(str(temporary), "w", format="mp4", options={"movflags": "faststart"}) as out,
        ):
            streams = {s.index: out.add_stream_from_template(s) for s in source.streams}
            for packet in source.demux():
                if packet.dts is not None:
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class Recorder:
    """Records one room's session; created by the hub, fed from the event loop."""

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        clock: Callable[[], float] = time.time,
        max_queue: int = 2000,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.name = name
        self.dropped = 0
        """Frames lost to a full queue, with the video frames skipped until the next keyframe."""
        self._clock = clock
        self._queue: queue.Queue[_Packet | None] = queue.Queue(max_queue)
        self._codec: str | None = None
        self._t0 = 0.0
        self._video = _Timeline(VIDEO_RATE)
        self._audio = _Timeline(AUDIO_RATE)
        self._await_key = False
        self._lost = False
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None
        self._broken = False
        self._closed = False
        self._result: Recording | None = None

    def frame(
        self, kind: str, codec: str, data: bytes, timestamp: int, keyframe: bool, arrival: float
    ) -> None:
        """Take one forwarded frame; never raises or blocks, since it runs inside the receive
        path of the publisher's connection."""
        try:
            self._frame(kind, codec.lower(), data, timestamp, keyframe, arrival)
        except Exception:
            if "error" not in self._warned:
                self._warned.add("error")
                log.exception("recording %s: a frame was refused", self.name)

    def _frame(
        self, kind: str, codec: str, data: bytes, timestamp: int, keyframe: bool, arrival: float
    ) -> None:
        if self._closed or self._broken or not data:
            return
        if kind == "video":
            if not self._admit_video(codec, data, keyframe, arrival):
                return
            timeline = self._video
        elif kind == "audio":
            if codec != "opus":
                self._warn(f"audio codec {codec!r} cannot be recorded")
                return
            if self._codec is None:
                return
            timeline = self._audio
        else:
            self._warn(f"unknown kind {kind!r}")
            return
        packet = _Packet(kind, bytes(data), timeline.pts(timestamp, arrival - self._t0), keyframe)
        try:
            self._queue.put_nowait(packet)
        except queue.Full:
            self.dropped += 1
            if kind == "video":
                self._await_key = self._lost = True

    def _admit_video(self, codec: str, data: bytes, keyframe: bool, arrival: float) -> bool:
        if codec not in _CONTAINERS:
            self._warn(f"video codec {codec!r} cannot be recorded")
            return False
        if self._codec is None:
            if not keyframe or not _can_start(codec, data):
                return False
            self._start(codec, arrival)
        elif codec != self._codec:
            self._warn(f"{codec} frames ignored: this recording is {self._codec}")
            return False
        if self._await_key:
            if not keyframe or not _can_start(codec, data):
                if self._lost:
                    self.dropped += 1
                return False
            self._await_key = self._lost = False
        return True

    def _start(self, codec: str, arrival: float) -> None:
        path = self.directory / f"{self.name}{_CONTAINERS[codec][0]}"
        muxer = _Muxer(path, codec, round(self._clock() * 1000))
        # Daemon: a process that exits without close() keeps what was flushed, never hangs.
        thread = threading.Thread(
            target=self._run, args=(muxer,), name=f"recorder-{self.name}", daemon=True
        )
        thread.start()
        self._thread, self._codec, self._t0 = thread, codec, arrival

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("recording %s: %s", self.name, message)

    def restart(self) -> None:
        """The publisher reconnected; its new RTP timestamps start again at zero."""
        self._video.rebase()
        self._audio.rebase()
        if self._codec is not None:
            self._await_key, self._lost = True, False

    async def close(self) -> Recording | None:
        """Finish the file; None when no video keyframe ever arrived (and no file exists)."""
        if not self._closed:
            self._closed = True
            if self._thread is not None:
                await asyncio.to_thread(self._stop, self._thread)
        return self._result

    def _stop(self, thread: threading.Thread) -> None:
        self._queue.put(None)
        thread.join()

    def _run(self, muxer: _Muxer) -> None:
        while (packet := self._queue.get()) is not None:
            if self._broken:
                continue
            try:
                muxer.write(packet)
            except Exception:
                log.exception("recording %s: the muxer failed, recording stopped", self.name)
                self._broken = True
        try:
            self._result = muxer.finish()
        except Exception:
            log.exception("recording %s: the file could not be finished", self.name)
