"""The publisher's clip for loadtests/video.py: 720p30 encoded once, each frame carrying its index.

Why this way:

- The video is encoded once, before anything is measured (libx264 constrained baseline,
  zerolatency, no B-frames, CBR with SPS/PPS on every keyframe, a keyframe every second; or
  VP8), and looped as ``av.Packet``s, which aiortc's sender packetizes without encoding.
  Encoding live would put an encoder on the client core the viewers need.
- Every frame shows its index within the loop as 16 black or white 80x80 blocks along the
  top, which a decoding viewer reads back (``read_counter``) to time glass-to-glass. This is
  the only copy of the counter in loadtests (the tests have their own: a loadtest may not
  import from tests/).
- The picture is noise at a random offset per frame, so every frame costs the encoder bits
  (about 5 KB, four or five packets) as a camera's would.
"""

from __future__ import annotations

import fractions
import random
import time
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, FPS = 1280, 720, 30
VIDEO_CLOCK = 90_000
BITS = 16
BLOCK = WIDTH // BITS  # each bit of the counter is an 80x80 block, white for 1
SCROLL = 64  # the noise picture is cropped at a random offset up to this, per frame


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
