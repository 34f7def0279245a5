"""The client side of loadtests/video.py: the publisher and viewer processes, and their handles.

The driver starts each as a ``spawn`` process (``Worker``) and talks to it over a pipe:

- publisher: ``("publish", whip_url, token)`` -> ``("published", error or "")``;
  ``("sent", since)`` -> ``("sent", numbers, times)``, which frame of the loop went to the
  sender when (``array`` bytes, for glass-to-glass); ``("stop",)``. It sends ``("ready",
  kbps, encode_s, keyframe_kbps)`` unasked once its clip is encoded.
- viewers: ``("add", whep_url, n)`` -> ``("added", viewers, errors)``; ``("measure", t0,
  t1)`` -> ``("measured", rows, seen, cpu_s, live)``, a ``Tally.snapshot`` difference per
  viewer over the window and the decoders' ``(counter, when)`` in it; ``("close",)`` ->
  ``("closed",)``; ``("stop",)``.

Why this way:

- Most viewers are "cheap": a full aiortc peer connection (ICE, DTLS, consent) whose UDP
  sockets count RTP before aiortc sees it, without decrypting; the RTP header is in clear,
  so payload type, marker bit (a video frame's last packet) and sequence numbers (gaps are
  packets lost on the way in) are all there. A decoding aiortc viewer costs tens of times
  more; on a 2-core machine a crowd of them would measure the clients, not the server.
- A few viewers decode and read the counter each frame carries (loadtests/video_clip.py).
  The publisher logs when its track handed each frame to its sender and a decoder when it
  decoded it, both on CLOCK_MONOTONIC, which all processes of a Linux machine share; the
  difference is glass-to-glass (loadtests/video_measure.py matches them).
- Every wait on the driver has a deadline (``cfg["timeout"]``): a worker whose driver died
  ends on its own.
"""

from __future__ import annotations

import array
import asyncio
import bisect
import contextlib
import fractions
import os
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import benchlib
from video_clip import FPS, VIDEO_CLOCK, encode_clip, read_counter

if TYPE_CHECKING:
    from aiortc import RTCRtpCodecCapability


# HTTP (blocking: run in threads) ----------------------------------------------------------


def post_sdp(url: str, sdp: str, token: str | None = None) -> tuple[int, str]:
    benchlib.check_loopback(url)
    req = urllib.request.Request(url, data=sdp.encode(), method="POST")
    req.add_header("Content-Type", "application/sdp")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


# The processes ----------------------------------------------------------------------------


async def _recv(pipe: Connection, wait_s: float) -> Any:
    ok = await asyncio.get_running_loop().run_in_executor(None, pipe.poll, wait_s)
    if not ok:
        raise TimeoutError("the driver went quiet")
    return pipe.recv()


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def codec_preferences(kind: str, codec: str) -> list[RTCRtpCodecCapability]:
    """aiortc's codecs of ``kind`` named ``codec`` (and RTX), for setCodecPreferences."""
    from aiortc import RTCRtpSender

    return [
        c
        for c in RTCRtpSender.getCapabilities(kind).codecs
        if c.mimeType.split("/")[-1].lower() in (codec.lower(), "rtx")
    ]


async def _connected(pc: Any, limit_s: float) -> bool:
    done = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState in ("connected", "failed", "closed"):
            done.set()

    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(limit_s):
            await done.wait()
    return bool(pc.connectionState == "connected")


@dataclass
class SendLog:
    """Which frame of the loop (its global number) the publisher handed its sender when."""

    next: int = 0
    numbers: array.array[int] = field(default_factory=lambda: array.array("q"))
    times: array.array[float] = field(default_factory=lambda: array.array("d"))


async def publisher_main(pipe: Connection, cfg: dict[str, Any]) -> None:
    import av
    from aiortc import AudioStreamTrack, MediaStreamTrack, RTCPeerConnection
    from aiortc import RTCSessionDescription as Description

    # Encode on every core, before anything is measured; then keep to the client core.
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, range(os.cpu_count() or 1))
    clip = encode_clip(cfg["codec"], cfg["frames"], cfg["kbps"], cfg["keyint"])
    with contextlib.suppress(OSError):
        if cfg["cores"]:
            os.sched_setaffinity(0, cfg["cores"])
    keyframe_bytes = sum(len(clip.packets[k]) for k in range(0, len(clip.packets), clip.keyint))
    seconds = len(clip.packets) / FPS
    pipe.send(("ready", clip.kbps, clip.encode_s, keyframe_bytes * 8 / 1000 / seconds))
    log = SendLog()
    time_base = fractions.Fraction(1, VIDEO_CLOCK)

    class Looped(MediaStreamTrack):
        """The clip, paced at 30 fps, as av.Packets the sender packetizes as they are."""

        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            # A new publication starts on a keyframe: the clip has one every keyint frames.
            log.next = -(-log.next // clip.keyint) * clip.keyint
            self.first = log.next
            self.start = 0.0

        async def recv(self) -> Any:
            number = log.next
            if number == self.first:
                self.start = time.monotonic()
            await _sleep_until(self.start + (number - self.first) / FPS)
            packet = av.Packet(clip.packets[number % len(clip.packets)])
            packet.pts = number * (VIDEO_CLOCK // FPS)
            packet.time_base = time_base
            log.next = number + 1
            log.numbers.append(number)
            log.times.append(time.monotonic())
            return packet

    pc: Any = None
    while True:
        try:
            msg = await _recv(pipe, cfg["timeout"])
        except TimeoutError:
            break
        if msg[0] == "publish":
            if pc is not None:
                await pc.close()
            pc = RTCPeerConnection()
            video = pc.addTransceiver(Looped(), direction="sendonly")
            video.setCodecPreferences(codec_preferences("video", cfg["codec"]))
            pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            status, answer = await asyncio.to_thread(
                post_sdp, msg[1], pc.localDescription.sdp, msg[2]
            )
            if status != 201:
                pipe.send(("published", f"{status}: {answer[:200]}"))
                continue
            await pc.setRemoteDescription(Description(answer, "answer"))
            ok = await _connected(pc, 20.0)
            pipe.send(("published", "" if ok else f"connection {pc.connectionState}"))
        elif msg[0] == "sent":
            since = msg[1]
            i = bisect.bisect_left(log.times, since)
            pipe.send(("sent", log.numbers[i:].tobytes(), log.times[i:].tobytes()))
        elif msg[0] == "stop":
            break
    if pc is not None:
        await pc.close()


@dataclass(slots=True)
class Tally:
    """What one viewer got, counted from RTP headers (or decoded frames for a decoder)."""

    video_types: frozenset[int] = frozenset()
    video: int = 0
    audio: int = 0
    frames: int = 0
    octets: int = 0
    lost: int = 0
    last_seq: int = -1
    seen: list[tuple[int, float]] = field(default_factory=list)  # decoders: (counter, when)

    def snapshot(self) -> tuple[int, int, int, int, int]:
        return (self.frames, self.video, self.audio, self.octets, self.lost)


def _counting(tally: Tally, original: Any) -> Any:
    """A datagram_received that counts SRTP by its clear header and passes on the rest."""

    def received(data: bytes, addr: Any) -> None:
        if len(data) >= 12 and data[0] & 0xC0 == 0x80:
            marker_type = data[1]
            payload_type = marker_type & 0x7F
            if not 64 <= payload_type <= 95:  # 64-95 is RTCP (RFC 5761): aiortc takes it
                tally.octets += len(data)
                if payload_type in tally.video_types:
                    tally.video += 1
                    if marker_type & 0x80:
                        tally.frames += 1
                    seq = data[2] << 8 | data[3]
                    if tally.last_seq >= 0:
                        gap = (seq - tally.last_seq - 1) & 0xFFFF
                        if gap < 3000:  # a larger one is a reordered packet
                            tally.lost += gap
                    tally.last_seq = seq
                else:
                    tally.audio += 1
                return
        original(data, addr)

    return received


def _video_types(sdp: str) -> frozenset[int]:
    found = re.search(r"^m=video \d+ \S+ ([\d ]+)", sdp, re.M)
    return frozenset(int(x) for x in found.group(1).split()) if found else frozenset()


async def viewers_main(pipe: Connection, cfg: dict[str, Any]) -> None:
    """A process of viewers: cheap counters, or decoders that read the counter (``decode``)."""
    from aiortc import MediaStreamTrack, RTCPeerConnection
    from aiortc import RTCSessionDescription as Description
    from aiortc.mediastreams import MediaStreamError

    decode = cfg["decode"]
    peers: list[tuple[Any, Tally]] = []
    tasks: set[asyncio.Task[None]] = set()
    pool = ThreadPoolExecutor(cfg["concurrency"])

    async def read(track: MediaStreamTrack, tally: Tally) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    tally.frames += 1
                    tally.seen.append((read_counter(frame), time.monotonic()))

    async def add(url: str) -> str:
        pc = RTCPeerConnection()
        tally = Tally()
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        if decode:

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                task = asyncio.ensure_future(read(track, tally))
                tasks.add(task)

        await pc.setLocalDescription(await pc.createOffer())
        if not decode:
            for transceiver in pc.getTransceivers():
                connection = transceiver.receiver.transport.transport._connection
                for protocol in connection._protocols:
                    protocol.datagram_received = _counting(tally, protocol.datagram_received)
        loop = asyncio.get_running_loop()
        status, answer = await loop.run_in_executor(
            pool, post_sdp, url, pc.localDescription.sdp, None
        )
        if status != 201:
            await pc.close()
            return f"WHEP {status}: {answer[:120]}"
        tally.video_types = _video_types(answer)
        await pc.setRemoteDescription(Description(answer, "answer"))
        if not await _connected(pc, 20.0):
            state = pc.connectionState
            await pc.close()
            return f"connection {state}"
        peers.append((pc, tally))
        return ""

    async def close_all() -> None:
        for task in tasks:
            task.cancel()
        tasks.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.gather(*(pc.close() for pc, _ in peers), return_exceptions=True)
        peers.clear()

    sem = asyncio.Semaphore(cfg["concurrency"])

    async def limited(url: str) -> str:
        async with sem:
            try:
                return await add(url)
            except Exception as exc:  # a failed join is a result to report, not a crash
                return f"{type(exc).__name__}: {exc}"[:160]

    while True:
        try:
            msg = await _recv(pipe, cfg["timeout"])
        except TimeoutError:
            break
        if msg[0] == "add":
            _, url, n = msg
            errors = await asyncio.gather(*(limited(url) for _ in range(n)))
            pipe.send(("added", len(peers), [e for e in errors if e]))
        elif msg[0] == "measure":
            _, t0, t1 = msg
            await _sleep_until(t0)
            before = [t.snapshot() for _, t in peers]
            cpu0 = sum(os.times()[:2])
            await _sleep_until(t1)
            after = [t.snapshot() for _, t in peers]
            cpu = sum(os.times()[:2]) - cpu0
            rows = [
                tuple(b - a for a, b in zip(x, y, strict=True))
                for x, y in zip(before, after, strict=True)
            ]
            seen = [(c, t) for _, tally in peers for c, t in tally.seen if t0 <= t < t1]
            for _, tally in peers:
                tally.seen = [s for s in tally.seen if s[1] >= t1]
            live = sum(pc.connectionState == "connected" for pc, _ in peers)
            pipe.send(("measured", rows, seen, cpu, live))
        elif msg[0] == "close":
            await close_all()
            pipe.send(("closed",))
        elif msg[0] == "stop":
            break
    await close_all()


def worker(role: str, pipe: Connection, cfg: dict[str, Any]) -> None:
    benchlib.raise_nofile()
    benchlib.install_uvloop()
    main = publisher_main if role == "publisher" else viewers_main
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(pipe, cfg))


# The driver's handle on one ---------------------------------------------------------------


class Worker:
    """A publisher or viewers process, started with ``ctx`` (spawn), and its pipe."""

    def __init__(self, ctx: Any, role: str, cfg: dict[str, Any]) -> None:
        self.role = role
        self.pipe, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=worker, args=(role, theirs, cfg), daemon=True)
        self.proc.start()

    def ask(self, msg: tuple[Any, ...], reply: str, wait_s: float) -> tuple[Any, ...]:
        self.pipe.send(msg)
        return self.wait(reply, wait_s)

    def wait(self, reply: str, wait_s: float) -> tuple[Any, ...]:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not self.proc.is_alive():
                raise RuntimeError(f"the {self.role} process died (exit {self.proc.exitcode})")
            if self.pipe.poll(0.1):
                got: tuple[Any, ...] = self.pipe.recv()
                if got[0] == reply:
                    return got
        raise TimeoutError(f"the {self.role} process did not answer {reply!r} in {wait_s:.0f} s")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.pipe.send(("stop",))
        self.proc.join(timeout=20)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)
