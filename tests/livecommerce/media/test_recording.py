"""Recording: real encoded frames in, a file PyAV opens out; time is simulated by `arrival`.

Every video frame's brightness encodes its number (mod 32), so decoding the file tells which
frames it holds and in what order.
"""

from __future__ import annotations

import functools
import logging
import threading
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple, cast

import av
import pytest
from av.stream import Stream

from livecommerce.media import recording
from livecommerce.media.recording import Recorder, Recording

T = 1000.0
WALL = 1_700_000_000.0
FRAMES, KEYINT, AUDIO = 40, 10, 100


class Encoded(NamedTuple):
    data: bytes
    keyframe: bool


@functools.cache
def video(codec: str) -> tuple[Encoded, ...]:
    if codec == "VP8":
        encoder = av.CodecContext.create("libvpx", "w")
        encoder.options = {"deadline": "realtime", "lag-in-frames": "0"}
    else:
        encoder = av.CodecContext.create("libx264", "w")
        headers = "repeat-headers=1"  # SPS and PPS in every keyframe, as WebRTC sends them
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": headers}
        encoder.profile = "Baseline"
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base, encoder.gop_size, encoder.max_b_frames = Fraction(1, 90_000), KEYINT, 0
    packets: list[av.Packet[Stream]] = []
    for i in range(FRAMES):
        frame = av.VideoFrame(320, 240, "yuv420p")
        frame.planes[0].update(bytes([4 + 8 * (i % 32)]) * frame.planes[0].buffer_size)
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = i * 3000
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    assert [p.pts for p in packets] == [i * 3000 for i in range(FRAMES)]
    return tuple(Encoded(bytes(p), p.is_keyframe) for p in packets)


@functools.cache
def opus() -> tuple[bytes, ...]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48_000, "stereo", "s16"
    packets: list[av.Packet[Stream]] = []
    for i in range(AUDIO):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(bytes(960 * 4))
        frame.sample_rate, frame.pts = 48_000, i * 960
        packets += encoder.encode(frame)
    return tuple(bytes(p) for p in packets[:AUDIO])


def publish(
    recorder: Recorder,
    codec: str,
    frames: range,
    *,
    start: float = T,
    audio: range = range(0),
    origin: int | None = None,
    wall: list[float] | None = None,
) -> None:
    """One publisher connection: its timestamps start at 0, its frames arrive on time."""
    events = [(start + n / 30, "video", i) for n, i in enumerate(frames)]
    events += [(start + n / 50, "audio", i) for n, i in enumerate(audio)]
    for arrival, kind, i in sorted(events, key=lambda e: (e[0], e[1] != "video")):
        if wall is not None:
            wall[0] = WALL + arrival - T
        if kind == "video":
            data, keyframe = video(codec)[i]
            ts = (i - (frames.start if origin is None else origin)) * 3000
            recorder.frame("video", codec, data, ts, keyframe, arrival)
        else:
            ts = (i - audio.start) * 960
            recorder.frame("audio", "opus", opus()[i], ts, False, arrival)


def counters(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        found = []
        for frame in container.decode(video=0):
            plane, middle = frame.planes[0], frame.height // 2
            row = bytes(plane)[middle * plane.line_size :][: frame.width]
            found.append(round((sum(row) / len(row) - 4) / 8) % 32)
        return found


def timestamps(path: Path, kind: str) -> list[float]:
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [
            float(p.pts * stream.time_base)
            for p in container.demux(stream)
            if p.pts is not None and stream.time_base is not None
        ]


def rising(values: list[float]) -> bool:
    return all(a < b for a, b in pairwise(values))


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def boxes(path: Path) -> list[str]:
    data, at, found = path.read_bytes(), 0, []
    while at < len(data):
        found.append(data[at + 4 : at + 8].decode())
        at += int.from_bytes(data[at : at + 4], "big")
    return found


async def test_vp8_and_opus_make_a_webm_holding_every_frame(tmp_path: Path) -> None:
    wall = [WALL]
    recorder = Recorder(tmp_path / "new", "room", clock=lambda: wall[0])
    publish(recorder, "VP8", range(FRAMES), audio=range(60), wall=wall)

    result = await recorder.close()

    path = tmp_path / "new" / "room.webm"
    started = round(WALL * 1000)
    assert result == Recording(path, "video/webm", started, started + 1300, FRAMES, 60)
    with av.open(str(path)) as container:
        assert "webm" in container.format.name
        assert [s.codec_context.name for s in container.streams] == ["vp8", "opus"]
        assert container.duration == pytest.approx(1_333_000, abs=50_000)
    assert counters(path) == [i % 32 for i in range(FRAMES)]
    assert rising(timestamps(path, "video"))
    assert rising(timestamps(path, "audio"))


async def test_h264_and_opus_make_a_faststart_mp4(tmp_path: Path) -> None:
    keyframe = video("H264")[0]
    assert keyframe.keyframe
    assert any(keyframe.data[i + 3] & 0x1F == 7 for i in recording._start_codes(keyframe.data))
    recorder = Recorder(tmp_path, "room")
    publish(recorder, "H264", range(FRAMES), audio=range(60))

    result = await recorder.close()

    assert result is not None
    assert (result.path, result.media_type) == (tmp_path / "room.mp4", "video/mp4")
    assert (result.video_frames, result.audio_frames) == (FRAMES, 60)
    with av.open(str(result.path)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "opus"]
        assert container.streams.video[0].codec_context.width == 320
    assert counters(result.path) == [i % 32 for i in range(FRAMES)]
    assert rising(timestamps(result.path, "video"))
    layout = boxes(result.path)
    assert "moof" not in layout
    assert layout.index("moov") < layout.index("mdat")
    assert files(tmp_path) == ["room.mp4"]


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_the_file_starts_on_the_first_keyframe(tmp_path: Path, codec: str) -> None:
    wall = [WALL]
    recorder = Recorder(tmp_path, "room", clock=lambda: wall[0])
    publish(recorder, codec, range(3, 30), audio=range(50), wall=wall)

    result = await recorder.close()

    assert result is not None
    assert result.started_at_ms == round((WALL + 7 / 30) * 1000)
    assert counters(result.path) == list(range(10, 30))
    assert result.audio_frames == 50 - 12
    assert timestamps(result.path, "video")[0] == 0
    assert timestamps(result.path, "audio")[0] == pytest.approx(12 / 50 - 7 / 30, abs=0.001)


async def test_no_keyframe_no_file(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, "room")
    publish(recorder, "VP8", range(1, KEYINT), audio=range(20))

    assert await recorder.close() is None
    assert files(tmp_path) == []


async def test_a_reconnected_publisher_continues_the_file(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, "room")
    publish(recorder, "VP8", range(20), audio=range(30))
    recorder.restart()
    publish(recorder, "VP8", range(15, FRAMES), start=T + 2, audio=range(30, 60))

    result = await recorder.close()

    assert result is not None
    assert counters(result.path) == [i % 32 for i in range(FRAMES)]
    video_times, audio_times = timestamps(result.path, "video"), timestamps(result.path, "audio")
    assert rising(video_times)
    assert rising(audio_times)
    assert video_times[20] == pytest.approx(2 + 5 / 30, abs=0.002)
    assert audio_times[30] == pytest.approx(2, abs=0.002)


async def test_bad_input_never_raises_and_the_file_still_plays(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(tmp_path, "room")
    good = video("VP8")[0].data
    recorder.frame("video", "VP8", b"", 0, True, T)
    recorder.frame("video", "VP8", b"\x00garbage!!", 0, True, T)
    recorder.frame("video", "VP8", good[:9], 0, True, T)
    publish(recorder, "VP8", range(KEYINT), audio=range(10))
    for _ in range(3):
        recorder.frame("video", "AV1", good, 0, True, T + 1)
        recorder.frame("video", "H264", video("H264")[0].data, 0, True, T + 1)
        recorder.frame("data", "VP8", good, 0, True, T + 1)
        recorder.frame("audio", "PCMU", b"\xff" * 160, 0, False, T + 1)
        recorder.frame("audio", "opus", b"", 0, False, T + 1)
        recorder.frame("video", cast(str, None), good, 0, True, T + 1)
    recorder.frame("video", "VP8", video("VP8")[KEYINT].data, 3_000_000_000, True, T + 1)
    publish(recorder, "VP8", range(KEYINT + 1, FRAMES), start=T + 1 + 1 / 30, origin=0)

    result = await recorder.close()

    assert result is not None
    assert result.path == tmp_path / "room.webm"
    assert counters(result.path) == [i % 32 for i in range(FRAMES)]
    assert rising(timestamps(result.path, "video"))
    warnings = [r.getMessage() for r in caplog.records if r.name == "livecommerce.streams"]
    assert len(warnings) == len(set(warnings)) == 5


async def test_an_mp4_being_recorded_plays_up_to_its_last_fragment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = threading.Event()
    write = recording._Muxer.write

    def counted(muxer: recording._Muxer, packet: recording._Packet) -> None:
        write(muxer, packet)
        if muxer.counts["video"] == 35 and not written.is_set():
            snapshot.write_bytes(muxer.path.read_bytes())
            written.set()

    snapshot = tmp_path / "crashed.mp4"
    monkeypatch.setattr(recording._Muxer, "write", counted)
    recorder = Recorder(tmp_path / "live", "room")
    publish(recorder, "H264", range(FRAMES), audio=range(60))
    assert written.wait(30)

    assert counters(snapshot) == list(range(30))
    await recorder.close()


async def test_a_full_queue_drops_and_video_waits_for_a_keyframe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    write = recording._Muxer.write

    def held(muxer: recording._Muxer, packet: recording._Packet) -> None:
        entered.set()
        release.wait(30)
        write(muxer, packet)

    monkeypatch.setattr(recording._Muxer, "write", held)
    recorder = Recorder(tmp_path, "room", max_queue=2)
    publish(recorder, "VP8", range(1))
    assert entered.wait(30)
    publish(recorder, "VP8", range(1, 25), start=T + 1 / 30, origin=0)
    publish(recorder, "VP8", range(0), start=T + 1, audio=range(3))
    release.set()

    result = await recorder.close()

    assert recorder.dropped == 22 + 3
    assert result is not None
    assert counters(result.path) == [0, 1, 2]


async def test_a_broken_muxer_stops_the_recording_not_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write = recording._Muxer.write

    def failing(muxer: recording._Muxer, packet: recording._Packet) -> None:
        if muxer.counts["video"] == 5:
            raise RuntimeError("disk full")
        write(muxer, packet)

    monkeypatch.setattr(recording._Muxer, "write", failing)
    recorder = Recorder(tmp_path, "room")
    publish(recorder, "VP8", range(FRAMES))

    result = await recorder.close()

    assert result is not None
    assert result.video_frames == 5
    assert counters(result.path) == list(range(5))
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)
