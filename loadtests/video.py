"""Live video benchmark (issue 4): WHEP viewers per core, forwarding against MediaRelay.

One publisher sends 1280x720 at 30 fps (about 1.5 Mbit/s) plus Opus to a real livecommerce
server over WHIP; WHEP viewers are added in steps until frames drop. For every step it prints
the viewers, the server's CPU (user+sys of its process tree over the window, as a share of
one core), the RTP packets the server handed to senders (its /metrics) and the viewers got,
the frames each viewer got against the 30 the publisher sent, and glass-to-glass latency.
Then the same publisher goes to loadtests/video_relay.py, aiortc's MediaRelay with one
encoder per viewer, ramped the same way, for the ratio the issue asks about.

Why this way:

- The publisher's video is encoded once, before anything is measured (libx264 constrained
  baseline, zerolatency, no B-frames, CBR with SPS/PPS on every keyframe, a keyframe every
  second; or VP8), and looped as ``av.Packet``s, which aiortc's sender packetizes without
  encoding. Encoding live would put an encoder on the client core the viewers need.
- Every frame shows its index within the loop as 16 black or white 80x80 blocks along the
  top. A few viewers decode and read it; glass-to-glass is the decode time minus the time
  the publisher's track handed that frame to its sender, both on CLOCK_MONOTONIC, which all
  processes of a Linux machine share. The picture is noise at a random offset per frame, so
  every frame costs the encoder bits (about 5 KB, four or five packets) as a camera's would.
- The other viewers are "cheap": a full aiortc peer connection (ICE, DTLS, consent) whose UDP
  sockets count RTP before aiortc sees it, without decrypting; the RTP header is in clear,
  so payload type, marker bit (a video frame's last packet) and sequence numbers (gaps are
  packets lost on the way in) are all there. A decoding aiortc viewer costs tens of times
  more; on a 2-core machine a crowd of them would measure the clients, not the server.
- The server (and later the relay) is pinned to one core, and the publisher, the viewers and
  this driver to the other, so "frames drop" means the server's core ran out, and CPU per
  core needs no guessing. Losses are told apart: a server that cannot keep up sends fewer
  frames with no sequence gaps (senders number what they send); a client core that cannot
  keep up loses packets in its socket buffers, which shows as gaps (and as kernel
  RcvbufErrors).

A step drops when more than 5 % of the viewers got under 95 % of the frames, or when the
server used 95 % of its core. The ramp stops at the first drop, at ``--max-viewers``, or
when its share of ``--budget-s`` is spent. The machine is shared: a step that dropped while
other processes took a fifth of the server's core or more is measured again (``--retries``),
and each row shows the share of the server's core that went to others.

    python loadtests/video.py
    python loadtests/video.py --codec vp8 --max-viewers 150 --step-seconds 5
    python loadtests/video.py --skip-relay --steps 0,50,100,150

Loopback only; every loop has a deadline.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import bisect
import contextlib
import fractions
import itertools
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib
import psutil

WIDTH, HEIGHT, FPS = 1280, 720, 30
VIDEO_CLOCK = 90_000
BITS = 16
BLOCK = WIDTH // BITS  # each bit of the counter is an 80x80 block, white for 1
SCROLL = 64  # the noise picture is cropped at a random offset up to this, per frame


# The clip ---------------------------------------------------------------------------------


def _counter_rows(count: int, line_size: int) -> bytes:
    row = b"".join(
        (b"\xeb" if count >> (BITS - 1 - bit) & 1 else b"\x10") * BLOCK for bit in range(BITS)
    )
    return (row + b"\x80" * (line_size - len(row))) * BLOCK


def read_counter(frame: Any) -> int:
    """The index ``encode_clip`` drew into a frame, after the codec's round trip."""
    luma = frame.planes[0]
    view = memoryview(luma)
    block = frame.width // BITS
    middle = (block // 2) * luma.line_size
    count = 0
    for bit in range(BITS):
        count = count << 1 | (view[middle + bit * block + block // 2] > 128)
    return count


@dataclass
class Clip:
    codec: str  # "H264" or "VP8"
    packets: list[bytes]
    keyint: int
    encode_s: float

    @property
    def kbps(self) -> float:
        return sum(len(p) for p in self.packets) * 8 / (len(self.packets) / FPS) / 1000


def encode_clip(codec: str, frames: int, kbps: int, keyint: int) -> Clip:
    """``frames`` pictures encoded once: one packet per frame, a keyframe every ``keyint``."""
    import av

    started = time.monotonic()
    stride = WIDTH + SCROLL
    # Mid-grey noise of a quarter of the full swing: a camera-like bit cost at 1.5 Mbit/s.
    table = bytes(96 + v // 4 for v in range(256))
    noise = random.Random(7).randbytes((HEIGHT + SCROLL) * stride).translate(table)
    ctx = av.CodecContext.create("libx264" if codec == "H264" else "libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.framerate = fractions.Fraction(FPS, 1)
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.bit_rate = kbps * 1000
    ctx.gop_size = keyint
    ctx.thread_count = 2
    if codec == "H264":
        ctx.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "profile": "baseline",
            "forced-idr": "1",
            "x264-params": (
                f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:repeat-headers=1"
                f":nal-hrd=cbr:vbv-maxrate={kbps}:vbv-bufsize={kbps // 2}"
            ),
        }
    else:
        bits = str(kbps * 1000)
        ctx.options = {
            "deadline": "realtime",
            "cpu-used": "16",
            "lag-in-frames": "0",
            "minrate": bits,
            "maxrate": bits,
            "bufsize": str(kbps * 500),
            "undershoot-pct": "100",
            "overshoot-pct": "15",
            "static-thresh": "1",
        }
    out: list[bytes] = []
    keys: list[int] = []
    for i in range(frames):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        luma = frame.planes[0]
        pad = b"\x80" * (luma.line_size - WIDTH)
        rng = random.Random(i)
        dy, dx = rng.randrange(SCROLL), rng.randrange(SCROLL)
        rows = [
            noise[(r + dy) * stride + dx : (r + dy) * stride + dx + WIDTH] + pad
            for r in range(BLOCK, HEIGHT)
        ]
        luma.update(_counter_rows(i, luma.line_size) + b"".join(rows))
        for plane in frame.planes[1:]:
            plane.update(b"\x80" * plane.buffer_size)
        frame.pts = i
        if i % keyint == 0:
            frame.pict_type = av.video.frame.PictureType.I
        for packet in ctx.encode(frame):
            keys += [len(out)] if packet.is_keyframe else []
            out.append(bytes(packet))
    for packet in ctx.encode(None):
        keys += [len(out)] if packet.is_keyframe else []
        out.append(bytes(packet))
    if len(out) != frames or any(k not in keys for k in range(0, frames, keyint)):
        raise RuntimeError(f"{codec}: {len(out)} packets for {frames} frames, keys {keys[:8]}")
    return Clip(codec, out, keyint, time.monotonic() - started)


# HTTP (blocking: run in threads) ------------------------------------------------------------


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


def get_text(url: str) -> str:
    benchlib.check_loopback(url)
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


# Worker processes -------------------------------------------------------------------------


async def _recv(pipe: Connection, wait_s: float) -> Any:
    ok = await asyncio.get_running_loop().run_in_executor(None, pipe.poll, wait_s)
    if not ok:
        raise TimeoutError("the driver went quiet")
    return pipe.recv()


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _only(kind: str, codec: str) -> list[Any]:
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
            video.setCodecPreferences(_only("video", cfg["codec"]))
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


# The driver -------------------------------------------------------------------------------


class Worker:
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


@contextlib.contextmanager
def pinned(cores: set[int] | None) -> Any:
    """Children started inside inherit these cores (and so do all their threads)."""
    if not cores:
        yield
        return
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def udp_rcvbuf_errors() -> int:
    """The kernel's count of UDP datagrams dropped for a full socket buffer, machine-wide."""
    lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines()]
    for head, values in itertools.pairwise(lines):
        if head[0] == "Udp:" and values[0] == "Udp:" and "RcvbufErrors" in head:
            return int(values[head.index("RcvbufErrors")])
    return 0


def forwarded_packets(http_url: str | None) -> float | None:
    """livecommerce's count of RTP payloads handed to viewers' senders, if it has one."""
    if not http_url:
        return None
    try:
        text = get_text(http_url + "/metrics")
    except (OSError, urllib.error.URLError):
        return None
    total = None
    for line in text.splitlines():
        if line.startswith("livecommerce_media_packets_forwarded_total"):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def core_busy(before: Any, after: Any, core: int) -> tuple[float, float]:
    """How busy one core was, and the part of it spent in softirq, as shares of its time.

    On loopback, delivering a datagram to the receiving socket mostly runs as softirq in the
    sender's syscall: the server's ``sendto`` costs show there, and in its system time too.
    """
    a, b = before[core], after[core]
    total = sum(b) - sum(a)
    if total <= 0:
        return float("nan"), float("nan")
    idle = (b.idle - a.idle) + (getattr(b, "iowait", 0.0) - getattr(a, "iowait", 0.0))
    softirq = getattr(b, "softirq", 0.0) - getattr(a, "softirq", 0.0)
    return (total - idle) / total, softirq / total


def glass_to_glass(
    seen: list[tuple[int, float]], numbers: list[int], times: list[float], loop: int
) -> tuple[list[float], int]:
    """Latencies: each decoded counter against the last time that frame of the loop was sent.

    Returns the sorted latencies in ms and how many frames matched no send within 5 s
    (a misread counter, or a viewer that far behind).
    """
    out: list[float] = []
    bad = 0
    for counter, when in seen:
        j = bisect.bisect_right(times, when) - 1
        k = j
        while k >= 0 and j - k < loop and numbers[k] % loop != counter:
            k -= 1
        if counter >= loop or k < 0 or j - k >= loop or when - times[k] > 5.0:
            bad += 1
            continue
        out.append((when - times[k]) * 1000)
    return sorted(out), bad


@dataclass
class Step:
    viewers: int
    asked: int
    server_cores: float
    main_cores: float
    fwd_pps: float | None  # the server's count of packets handed to senders, per second
    rx_pps: float  # RTP packets the viewers received, per second, all viewers
    fps_min: float
    fps_p5: float
    fps_median: float
    fps_decoded: float  # the slowest decoding viewer's
    publisher_fps: float
    loss_pct: float
    rcvbuf_errors: int
    g2g: list[float]
    unmatched: int
    server_core_busy: float
    server_core_softirq: float
    client_core_busy: float
    client_cores: float
    join_errors: list[str]

    @property
    def others(self) -> float:
        """The share of the server's core that went to other processes (a noisy machine).

        Softirq work done while the server runs (loopback delivery of what it sends) is
        charged to the server's system time as well as to the core's softirq time.
        """
        return max(0.0, self.server_core_busy - self.server_cores)

    @property
    def short(self) -> bool:
        """More than 5 % of the viewers got under 95 % of the frames."""
        return self.fps_p5 < 0.95 * self.publisher_fps

    @property
    def saturated(self) -> bool:
        """The server used its core up (unless others did)."""
        return self.server_cores >= 0.95 or (self.server_core_busy >= 0.97 and self.others < 0.20)

    @property
    def dropped(self) -> bool:
        return bool(self.viewers) and (self.short or self.saturated)

    @property
    def limit(self) -> str:
        """Which side ran out, when this step dropped."""
        if not self.dropped:
            return ""
        if self.others >= 0.20 and self.server_core_busy >= 0.95:
            return "starved"  # other processes took the server's core: says nothing of it
        if self.saturated:
            return "server"
        if self.loss_pct >= 0.5 or self.client_core_busy >= 0.95:
            return "client"
        return "server"


@dataclass
class Phase:
    name: str
    steps: list[Step] = field(default_factory=list)
    stopped_by: str = ""
    decoders: int = 0

    def best(self) -> Step | None:
        good = [s for s in self.steps if s.viewers and not s.dropped]
        return good[-1] if good else None

    def per_core(self) -> tuple[float, str]:
        """Viewers per core, and how it was found."""
        best = self.best()
        drop = next((s for s in self.steps if s.dropped), None)
        if best is None:
            if drop is None or not drop.server_cores:
                return float("nan"), "no step with viewers"
            share = drop.fps_median / drop.publisher_fps if drop.publisher_fps else 0.0
            return drop.viewers * share / drop.server_cores, (
                f"even {drop.viewers} dropped frames ({drop.limit} side): the frames "
                f"delivered ({share * 100:.0f} %) per server core"
            )
        scaled = best.viewers / best.server_cores
        if drop is not None and drop.limit == "server":
            return float(best.viewers), (
                f"measured: {best.viewers} held on one core ({best.server_cores * 100:.0f} %), "
                f"{drop.viewers} dropped ({'frames short' if drop.short else 'core saturated'}:"
                f" server {drop.server_cores * 100:.0f} %, its core"
                f" {drop.server_core_busy * 100:.0f} % busy); "
                f"{scaled:.0f} scaled from the last good step"
            )
        why = {
            None: f"the ramp stopped ({self.stopped_by}) before frames dropped",
            "client": "the client side dropped first",
            "starved": "other processes took the server's core when frames dropped",
        }[drop.limit if drop is not None else None]
        return scaled, (
            f"scaled: {best.viewers} viewers on {best.server_cores * 100:.0f} % of a core; {why}"
        )


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        ncpu = os.cpu_count() or 1
        self.pin = not args.no_pin and ncpu >= 2
        self.server_core = args.server_core
        self.server_cores = {self.server_core} if self.pin else None
        self.client_cores = (set(range(ncpu)) - {self.server_core}) if self.pin else None
        self.client_core = min(self.client_cores) if self.client_cores else 0
        self.ctx = mp.get_context("spawn")
        self.started = time.monotonic()
        self.clip_frames = args.clip_seconds * FPS
        if self.client_cores:
            os.sched_setaffinity(0, self.client_cores)  # the driver stays off the server's core
        self.publisher: Worker | None = None
        self.cheap: list[Worker] = []
        self.decoder: Worker | None = None

    # the processes
    def start_clients(self) -> None:
        timeout = self.args.budget_s + 300
        cfg = {
            "codec": self.args.codec.upper(),
            "frames": self.clip_frames,
            "kbps": self.args.kbps,
            "keyint": self.args.keyint,
            "timeout": timeout,
            "cores": sorted(self.client_cores) if self.client_cores else [],
        }
        with pinned(self.client_cores):
            self.publisher = Worker(self.ctx, "publisher", cfg)
            vcfg = {"timeout": timeout, "concurrency": self.args.concurrency}
            self.cheap = [
                Worker(self.ctx, "viewers", {**vcfg, "decode": False})
                for _ in range(self.args.procs)
            ]
            self.decoder = Worker(self.ctx, "viewers", {**vcfg, "decode": True})

    def viewer_workers(self) -> list[Worker]:
        return [*self.cheap, *([self.decoder] if self.decoder else [])]

    def client_pids(self) -> list[int]:
        workers = [*self.viewer_workers(), *([self.publisher] if self.publisher else [])]
        return [w.proc.pid for w in workers if w.proc.pid]

    # the phases
    def run_phase(
        self,
        phase: Phase,
        pid: int,
        whep_url: str,
        steps: list[int],
        deadline: float,
        http_url: str | None,
    ) -> None:
        assert self.decoder is not None
        print(_HEADER, flush=True)
        have = 0
        decoding = False
        errors: list[str] = []
        for n in steps:
            if time.monotonic() > deadline:
                phase.stopped_by = f"time budget, before {n} viewers"
                break
            want = n - have
            if want > 0:
                t_add = time.monotonic()
                # the decoders join once a step has more viewers than them: every step with
                # viewers has cheap ones, whose counts decide drops
                decoders = 0 if decoding or n <= phase.decoders else phase.decoders
                if decoders:
                    got = self.decoder.ask(("add", whep_url, decoders), "added", 120)
                    errors += got[2]
                    decoding = True
                shares = _split(want - decoders, len(self.cheap), have)
                for w, share in zip(self.cheap, shares, strict=True):
                    if share:
                        w.pipe.send(("add", whep_url, share))
                for w, share in zip(self.cheap, shares, strict=True):
                    if share:
                        errors += w.wait("added", 60 + share)[2]
                have = n
                print(f"      +{want} viewers joined in {time.monotonic() - t_add:.1f} s",
                      flush=True)  # fmt: skip
                # a new viewer waits for a keyframe (one a second) before frames flow
                time.sleep(self.args.settle)
            spy = self.args.profile if http_url and n == self.args.profile_at else None
            step = self.measure(pid, n, http_url, errors, spy)
            for _ in range(self.args.retries):
                if step.limit != "starved":
                    break
                print(_row(step) + ": measuring again", flush=True)
                time.sleep(2.0)
                step = self.measure(pid, n, http_url, errors)
            errors = []
            phase.steps.append(step)
            print(_row(step), flush=True)
            for e in sorted(set(step.join_errors))[:3]:
                print(f"      join failed x{step.join_errors.count(e)}: {e}", flush=True)
            if step.dropped:
                phase.stopped_by = f"frames dropped at {n} viewers ({step.limit} side)"
                break
        else:
            phase.stopped_by = phase.stopped_by or f"the last step ({steps[-1]} viewers)"
        for w in self.viewer_workers():
            w.pipe.send(("close",))
        for w in self.viewer_workers():
            w.wait("closed", 60)

    def measure(
        self,
        pid: int,
        asked: int,
        http_url: str | None,
        errors: list[str],
        profile: str | None = None,
    ) -> Step:
        assert self.publisher is not None
        window = self.args.step_seconds
        t0 = time.monotonic() + 0.3
        t1 = t0 + window
        workers = self.viewer_workers()
        for w in workers:
            w.pipe.send(("measure", t0, t1))
        client_pids = self.client_pids()
        time.sleep(max(0.0, t0 - time.monotonic()))
        spy = _py_spy(pid, profile, window) if profile else None
        srv0 = benchlib.cpu_snapshot(pid)
        cpu0 = psutil.cpu_times(percpu=True)
        cli0 = _cpu_of(client_pids)
        udp0 = udp_rcvbuf_errors()
        fwd0 = forwarded_packets(http_url)
        m0 = time.monotonic()
        time.sleep(max(0.0, t1 - time.monotonic()))
        srv1 = benchlib.cpu_snapshot(pid)
        cpu1 = psutil.cpu_times(percpu=True)
        cli1 = _cpu_of(client_pids)
        udp1 = udp_rcvbuf_errors()
        fwd1 = forwarded_packets(http_url)
        m1 = time.monotonic()
        replies = [w.wait("measured", window + 30) for w in workers]
        if spy is not None:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(timeout=5)
            print(f"      py-spy recorded the server into {profile} (it adds noise)", flush=True)
        _, nb, tb = self.publisher.ask(("sent", t0 - 5.0), "sent", 30)
        numbers = array.array("q")
        numbers.frombytes(nb)
        times = array.array("d")
        times.frombytes(tb)
        sent_in_window = sum(1 for t in times if t0 <= t < t1)
        publisher_fps = sent_in_window / window
        # the decoder process answers last; its viewers count decoded frames, not packets
        rows = [r for reply in replies[:-1] for r in reply[1]]
        decoded = sorted(r[0] / window for r in replies[-1][1])
        seen = replies[-1][2]
        viewers = sum(reply[4] for reply in replies)
        fps = sorted(r[0] / window for r in rows)
        video = sum(r[1] for r in rows)
        lost = sum(r[4] for r in rows)
        # a decoder's packets are not counted: take them to be the median cheap viewer's
        median_pkts = sorted(r[1] + r[2] for r in rows)[len(rows) // 2] if rows else 0
        rx = sum(r[1] + r[2] for r in rows) + median_pkts * len(decoded)
        server_busy, server_softirq = (
            core_busy(cpu0, cpu1, self.server_core) if self.pin else (0.0, 0.0)
        )
        g2g, unmatched = glass_to_glass(seen, list(numbers), list(times), self.clip_frames)
        main_cpu = srv1.get(pid, 0.0) - srv0.get(pid, 0.0)
        return Step(
            viewers=viewers,
            asked=asked,
            server_cores=benchlib.cpu_between(srv0, srv1) / (m1 - m0),
            main_cores=main_cpu / (m1 - m0),
            fwd_pps=(fwd1 - fwd0) / (m1 - m0) if fwd0 is not None and fwd1 is not None else None,
            rx_pps=rx / window,
            fps_min=fps[0] if fps else 0.0,
            fps_p5=fps[int(0.05 * (len(fps) - 1))] if fps else 0.0,
            fps_median=fps[len(fps) // 2] if fps else 0.0,
            fps_decoded=decoded[0] if decoded else float("nan"),
            publisher_fps=publisher_fps,
            loss_pct=100 * lost / (video + lost) if video + lost else 0.0,
            rcvbuf_errors=udp1 - udp0,
            g2g=g2g,
            unmatched=unmatched,
            server_core_busy=server_busy,
            server_core_softirq=server_softirq,
            client_core_busy=core_busy(cpu0, cpu1, self.client_core)[0] if self.pin else 0.0,
            client_cores=sum(cli1.get(p, 0.0) - cli0.get(p, 0.0) for p in cli1) / (m1 - m0),
            join_errors=errors,
        )

    def publish(self, url: str, token: str | None) -> None:
        assert self.publisher is not None
        got = self.publisher.ask(("publish", url, token), "published", 60)
        if got[1]:
            raise RuntimeError(f"publishing to {url} failed: {got[1]}")
        time.sleep(1.5)  # frames flowing, the stream's codec known, before the first viewer

    def forwarding(self, deadline: float) -> Phase:
        phase = Phase("forwarding (livecommerce)", decoders=self.args.decoders)
        print("\n== forwarding: livecommerce serve, WHIP in, WHEP out, no re-encoding", flush=True)
        with pinned(self.server_cores):
            server = benchlib.start_livecommerce(self.work)
        try:
            assert server.pid is not None
            assert server.http_url is not None
            room_id, token = host_room(server)
            print(f"   server pid {server.pid} on core {self._cores(self.server_cores)}, "
                  f"room {room_id}", flush=True)  # fmt: skip
            self.publish(f"{server.http_url}/whip/rooms/{room_id}", token)
            steps = [n for n in self.args.steps if n <= self.args.max_viewers]
            whep = f"{server.http_url}/whep/rooms/{room_id}"
            self.run_phase(phase, server.pid, whep, steps, deadline, server.http_url)
        finally:
            server.stop()
        return phase

    def relay(self, deadline: float) -> Phase:
        phase = Phase("MediaRelay (aiortc, one encoder per viewer)", decoders=1)
        print("\n== MediaRelay: loadtests/video_relay.py, decode once, encode per viewer",
              flush=True)  # fmt: skip
        ready = self.work / "relay-ready.json"
        argv = [
            sys.executable, str(Path(__file__).resolve().parent / "video_relay.py"),
            "--port", "0", "--ready-file", str(ready), "--codec", self.args.codec.upper(),
        ]  # fmt: skip
        with pinned(self.server_cores):
            proc, info = benchlib.start_process("relay", argv, ready, self.work / "relay.log")
        server = benchlib.Server("relay", int(info["pid"]), info["url"], "", proc)
        try:
            print(f"   relay pid {server.pid} on core {self._cores(self.server_cores)}",
                  flush=True)  # fmt: skip
            self.publish(f"{info['url']}/whip", None)
            steps = [n for n in self.args.relay_steps if n <= self.args.relay_max]
            self.run_phase(phase, int(info["pid"]), f"{info['url']}/whep", steps, deadline, None)
        finally:
            server.stop()
        return phase

    def _cores(self, cores: set[int] | None) -> str:
        return ",".join(map(str, sorted(cores))) if cores else "any (not pinned)"

    def stop(self) -> None:
        for w in [*self.viewer_workers(), *([self.publisher] if self.publisher else [])]:
            w.stop()


def _py_spy(pid: int, out: str, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the server (from the driver's core) for one window."""
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(out).suffix, "raw")
    argv = [
        shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy",
        "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", "100", "--format", fmt, "--output", out, "--nonblocking",
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _split(n: int, parts: int, offset: int) -> list[int]:
    shares = [n // parts] * parts
    for i in range(n % parts):
        shares[(offset + i) % parts] += 1
    return shares


def _cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
    return out


def host_room(server: benchlib.Server) -> tuple[str, str]:
    """A scheduled room and its host's token (the WHIP publish takes it live)."""
    api = f"{server.http_url}/api/v1"
    name = f"video_host_{os.urandom(3).hex()}"
    body = {"username": name, "password": benchlib.PASSWORD, "display_name": name}
    status, answer = benchlib.http_json("POST", f"{api}/accounts", body)
    if status != 201:
        raise RuntimeError(f"POST /api/v1/accounts answered {status}: {answer}")
    body = {"username": name, "password": benchlib.PASSWORD}
    status, answer = benchlib.http_json("POST", f"{api}/sessions", body)
    if status != 200:
        raise RuntimeError(f"POST /api/v1/sessions answered {status}: {answer}")
    token = str(answer["token"])
    body = {"title": "video benchmark", "currency": "EUR", "locale": "en"}
    status, room = benchlib.http_json("POST", f"{api}/rooms", body, token=token)
    if status != 201:
        raise RuntimeError(f"POST /api/v1/rooms answered {status}: {room}")
    return str(room["id"]), token


_HEADER = (
    "   viewers | server CPU  per viewer | pkts/s fwd / recv | fps/viewer min p5 med (pub)"
    " dec | loss | g2g ms p50 p95 | client core | server core (softirq, others)"
)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def _row(s: Step) -> str:
    per = f"{s.server_cores / s.viewers * 100:5.2f} %" if s.viewers else "    -  "
    fwd = f"{s.fwd_pps:7.0f}" if s.fwd_pps is not None else "      -"
    why = "frames short" if s.short else "core saturated"
    flag = f"  DROP ({s.limit} side: {why})" if s.dropped else ""
    viewers = f"{s.viewers:4d}" + (f"/{s.asked}" if s.viewers != s.asked else "")
    return (
        f"   {viewers:>7} | {s.server_cores * 100:6.1f} %  {per} | {fwd} / {s.rx_pps:7.0f} |"
        f" {s.fps_min:4.1f} {s.fps_p5:4.1f} {s.fps_median:4.1f} ({s.publisher_fps:4.1f})"
        f" {s.fps_decoded:4.1f} | {s.loss_pct:4.2f}% | {_pct(s.g2g, 0.5):5.0f}"
        f" {_pct(s.g2g, 0.95):5.0f} | {s.client_core_busy * 100:5.0f} %   |"
        f" {s.server_core_busy * 100:5.0f} % ({s.server_core_softirq * 100:2.0f} %,"
        f" {s.others * 100:2.0f} %){flag}"
        + (f"  [udp rcvbuf drops {s.rcvbuf_errors}]" if s.rcvbuf_errors else "")
        + (f"  [{s.unmatched} frames over 5 s late or misread]" if s.unmatched else "")
    )


def commit() -> str:
    def git(*argv: str) -> str:
        out = subprocess.run(
            ["git", *argv], cwd=benchlib.REPO, capture_output=True, text=True, check=False
        )
        return out.stdout.strip()

    dirty = git("status", "--porcelain", "--", "streams", "livecommerce")
    return git("rev-parse", "--short", "HEAD") + (" (server code modified)" if dirty else "")


def summary(fwd: Phase | None, relay: Phase | None, kbps: float, rev: str) -> None:
    print("\n== summary", flush=True)
    fwd_per = relay_per = float("nan")
    if fwd is not None:
        fwd_per, how = fwd.per_core()
        print(f"   forwarding: {fwd_per:.0f} viewers per core ({how})")
        top = fwd.best() or (fwd.steps[-1] if fwd.steps else None)
        if top is not None and top.viewers:
            marginal = _marginal(fwd)
            print(
                f"   forwarding at {top.viewers} viewers: {top.server_cores * 100:.0f} % of a core,"
                f" {top.server_cores / top.viewers * 100:.2f} % per viewer"
                + (f" ({marginal * 100:.2f} % marginal)" if marginal else "")
                + f"; {top.rx_pps:.0f} RTP packets/s received"
                + (f", {top.fwd_pps:.0f}/s handed to senders" if top.fwd_pps else "")
                + f" ({top.rx_pps / top.viewers:.0f} per viewer)"
            )
        _latency("forwarding", fwd)
    if relay is not None:
        relay_per, how = relay.per_core()
        print(f"   MediaRelay: {relay_per:.1f} viewers per core ({how})")
        _latency("MediaRelay", relay)
    for phase in (fwd, relay):
        if phase is not None and phase.steps:
            noisy = max(st.others for st in phase.steps)
            print(
                f"   {phase.name.split(' ')[0]}: other processes took up to {noisy * 100:.0f} % of"
                " the server's core during a step"
                + (" (a noisy machine: run again when it is quieter)" if noisy > 0.15 else "")
            )
    if fwd is not None and relay is not None and relay_per > 0:
        print(f"   ratio: {fwd_per / relay_per:.0f}x (target >= 10x)")
    if fwd is not None:
        print(f"   target: >= 50 viewers per core: {'met' if fwd_per >= 50 else 'NOT met'}")
    print(f"   publisher clip: {kbps:.0f} kbit/s; commit {rev}")


def _latency(name: str, phase: Phase) -> None:
    good = [s for s in phase.steps if s.viewers and not s.dropped and s.g2g]
    if not good:
        return
    pooled = sorted(v for s in good for v in s.g2g)
    first, top = good[0], good[-1]
    text = f"   glass-to-glass ({name}): p50 {_pct(first.g2g, 0.5):.0f} / p95 "
    text += f"{_pct(first.g2g, 0.95):.0f} ms at {first.viewers} viewers"
    if top is not first:
        text += f", p50 {_pct(top.g2g, 0.5):.0f} / p95 {_pct(top.g2g, 0.95):.0f} ms at "
        text += f"{top.viewers}; p50 {_pct(pooled, 0.5):.0f} / p95 {_pct(pooled, 0.95):.0f} ms"
        text += f" over the {len(good)} steps without drops"
    print(text + f" ({len(pooled)} decoded frames)")


def _marginal(phase: Phase) -> float | None:
    base = next((s for s in phase.steps if not s.viewers), None)
    top = phase.best()
    if base is None or top is None:
        return None
    return (top.server_cores - base.server_cores) / top.viewers


def _ints(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x.strip()})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--codec", choices=("h264", "vp8"), default="h264")
    parser.add_argument("--max-viewers", type=int, default=200)
    parser.add_argument(
        "--steps", type=_ints, default=_ints("0,10,25,50,60,70,80,90,100,110,120,135,150,175,200"),
        help="forwarding: viewer counts to measure at (0: the publisher alone)",
    )  # fmt: skip
    parser.add_argument("--relay-max", type=int, default=8)
    parser.add_argument("--relay-steps", type=_ints, default=_ints("0,1,2,3,4,6,8"))
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--skip-forwarding", action="store_true")
    parser.add_argument("--step-seconds", type=float, default=6.0, help="measured per step")
    parser.add_argument("--settle", type=float, default=2.5, help="seconds after adding viewers")
    parser.add_argument("--decoders", type=int, default=2, help="decoding viewers (forwarding)")
    parser.add_argument("--procs", type=int, default=2, help="processes of cheap viewers")
    parser.add_argument("--concurrency", type=int, default=8, help="WHEP joins at a time/proc")
    parser.add_argument("--kbps", type=int, default=1500)
    parser.add_argument("--keyint", type=int, default=30, help="frames between keyframes")
    parser.add_argument("--clip-seconds", type=int, default=10)
    parser.add_argument("--budget-s", type=float, default=300.0, help="the whole run, about")
    parser.add_argument(
        "--retries", type=int, default=2,
        help="measure a step again when it dropped while other processes took its core",
    )  # fmt: skip
    parser.add_argument(
        "--profile", metavar="FILE",
        help="py-spy record the livecommerce server during one step (.svg flamegraph, "
        ".json speedscope, else raw collapsed stacks)",
    )  # fmt: skip
    parser.add_argument("--profile-at", type=int, default=75, help="the step (viewers)")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--wait-quiet", type=float, default=20.0, help="max s to wait for calm")
    args = parser.parse_args()
    if (args.clip_seconds * FPS) % args.keyint:
        parser.error("--clip-seconds x 30 must be a multiple of --keyint")
    if args.clip_seconds * FPS >= 1 << BITS:
        parser.error(f"the counter has {BITS} bits")

    benchlib.raise_nofile()
    rev = commit()
    print("video benchmark: viewers per core, forwarding vs MediaRelay", flush=True)
    print(f"   {benchlib.machine()}")
    print(
        f"   aiortc {benchlib.version('aiortc')}, av {benchlib.version('av')}, "
        f"aioice {benchlib.version('aioice')}, uvloop {benchlib.version('uvloop')}; commit {rev}"
    )
    if args.wait_quiet:
        busy = benchlib.wait_quiet(args.wait_quiet)
        print(f"   machine busy before the run: {busy:.0f} %", flush=True)
    with tempfile.TemporaryDirectory(prefix="lc-video-") as tmp:
        bench = Bench(args, Path(tmp))
        fwd = relay = None
        try:
            bench.start_clients()
            assert bench.publisher is not None
            got = bench.publisher.wait("ready", 180)
            _, kbps, encode_s, key_kbps = got
            print(
                f"   publisher: {WIDTH}x{HEIGHT} {FPS} fps {args.codec.upper()}, "
                f"{args.clip_seconds} s clip encoded once in {encode_s:.1f} s, {kbps:.0f} kbit/s "
                f"({key_kbps:.0f} of it in keyframes, one every {args.keyint} frames), "
                f"plus Opus 20 ms; server on core {bench._cores(bench.server_cores)}, clients "
                f"on {bench._cores(bench.client_cores)}; {args.procs} cheap-viewer processes",
                flush=True,
            )
            share = 0.55 if not args.skip_relay else 1.0
            if not args.skip_forwarding:
                fwd = bench.forwarding(bench.started + args.budget_s * share)
            if not args.skip_relay:
                relay = bench.relay(bench.started + args.budget_s)
        finally:
            bench.stop()
        summary(fwd, relay, kbps, rev)
        print(f"   run took {time.monotonic() - bench.started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
