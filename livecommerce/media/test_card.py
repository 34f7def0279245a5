"""The demo's test card: colour bars, a title and a ball that crosses once per loop.

Drawn straight into the planes of a YUV frame (no numpy, no font library): the colours are
BT.601 limited range, what browsers assume for this video, and the title uses a 5x7 pixel
font of the few letters it needs.
"""

from __future__ import annotations

import math

from av import VideoFrame

WIDTH, HEIGHT, FPS = 640, 360, 30
CLIP_S = 4  # the ball's one round trip: the loop is seamless

Colour = tuple[int, int, int]  # Y', Cb, Cr (BT.601, limited range: what browsers assume)


def _ycbcr(r: int, g: int, b: int) -> Colour:
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return round(y), round(cb), round(cr)


# 75% bars, left to right, and the reversed strip under them, as SMPTE draws them.
BARS = [_ycbcr(*c) for c in ((191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0),
                             (191, 0, 191), (191, 0, 0), (0, 0, 191))]  # fmt: skip
_BLACK = _ycbcr(0, 0, 0)
_CASTELLATIONS = [BARS[6], _BLACK, BARS[4], _BLACK, BARS[2], _BLACK, BARS[0]]
_BAND = _ycbcr(28, 28, 36)
_TRACK = _ycbcr(70, 70, 84)
_WHITE = _ycbcr(255, 255, 255)
_BALL = _ycbcr(255, 140, 0)

_BARS_END, _STRIP_END = 200, 228
_TEXT_TOP, _TEXT_SCALE = 250, 5
TRACK_Y, _BALL_R = 320, 20

# A 5x7 pixel font with just the letters of "livecommerce demo".
_GLYPHS = {
    "l": ".XX.. ..X.. ..X.. ..X.. ..X.. ..X.. .XXX.",
    "i": "..X.. ..... .XX.. ..X.. ..X.. ..X.. .XXX.",
    "v": "..... ..... X...X X...X X...X .X.X. ..X..",
    "e": "..... ..... .XXX. X...X XXXXX X.... .XXX.",
    "c": "..... ..... .XXX. X.... X.... X...X .XXX.",
    "o": "..... ..... .XXX. X...X X...X X...X .XXX.",
    "m": "..... ..... XX.X. X.X.X X.X.X X...X X...X",
    "r": "..... ..... X.XX. XX..X X.... X.... X....",
    "d": "....X ....X .XX.X X..XX X...X X...X .XXXX",
    " ": "..... ..... ..... ..... ..... ..... .....",
}
TITLE = "livecommerce demo"


class Canvas:
    """A yuv420p picture in three byte arrays; shapes start and end on even pixels."""

    def __init__(self, planes: tuple[bytearray, bytearray, bytearray] | None = None) -> None:
        if planes is None:
            half = (WIDTH // 2) * (HEIGHT // 2)
            planes = (bytearray(WIDTH * HEIGHT), bytearray(half), bytearray(half))
        self.planes = planes

    def copy(self) -> Canvas:
        y, cb, cr = self.planes
        return Canvas((bytearray(y), bytearray(cb), bytearray(cr)))

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        for plane, value, shift in zip(self.planes, colour, (0, 1, 1), strict=True):
            width = WIDTH >> shift
            run = bytes([value]) * ((x1 - x0) >> shift)
            for row in range(y0 >> shift, y1 >> shift):
                start = row * width + (x0 >> shift)
                plane[start : start + len(run)] = run

    def disc(self, cx: int, cy: int, r: int, colour: Colour) -> None:
        for dy in range(-r, r, 2):
            half = int(math.sqrt(r * r - (dy + 1) ** 2)) & ~1
            self.rect(cx - half, cy + dy, cx + half, cy + dy + 2, colour)

    def text(self, x: int, y: int, scale: int, words: str, colour: Colour) -> None:
        for index, letter in enumerate(words):
            rows = _GLYPHS[letter].split()
            for gy, row in enumerate(rows):
                for gx, pixel in enumerate(row):
                    if pixel == "X":
                        left = x + (index * 6 + gx) * scale
                        top = y + gy * scale
                        self.rect(left, top, left + scale, top + scale, colour)

    def frame(self) -> VideoFrame:
        frame = VideoFrame(width=WIDTH, height=HEIGHT, format="yuv420p")
        for plane, data, shift in zip(frame.planes, self.planes, (0, 1, 1), strict=True):
            width = WIDTH >> shift
            if plane.line_size == width:
                plane.update(bytes(data))
            else:
                pad = b"\x00" * (plane.line_size - width)
                plane.update(
                    b"".join(data[i : i + width] + pad for i in range(0, len(data), width))
                )
        return frame


def blank_card() -> Canvas:
    canvas = Canvas()
    edges = [round(i * WIDTH / 7) & ~1 for i in range(8)]
    for i in range(7):
        canvas.rect(edges[i], 0, edges[i + 1], _BARS_END, BARS[i])
        canvas.rect(edges[i], _BARS_END, edges[i + 1], _STRIP_END, _CASTELLATIONS[i])
    canvas.rect(0, _STRIP_END, WIDTH, HEIGHT, _BAND)
    width = (len(TITLE) * 6 - 1) * _TEXT_SCALE
    canvas.text((WIDTH - width) // 2 & ~1, _TEXT_TOP, _TEXT_SCALE, TITLE, _WHITE)
    margin = 40
    canvas.rect(margin, TRACK_Y - 2, WIDTH - margin, TRACK_Y + 2, _TRACK)
    for tick in range(5):  # a mark at every quarter of the ball's way
        x = margin + tick * (WIDTH - 2 * margin) // 4 & ~1
        canvas.rect(x - 2, TRACK_Y - 10, x + 2, TRACK_Y + 10, _TRACK)
    return canvas


def ball_x(index: int) -> int:
    """Where the ball is in frame ``index``: across and back once per clip."""
    swing = (WIDTH - 2 * 40) // 2
    return round(WIDTH / 2 + swing * math.sin(2 * math.pi * index / (CLIP_S * FPS))) & ~1


def draw_card(index: int, background: Canvas | None = None) -> VideoFrame:
    """Frame ``index`` of the loop: the bars, the title, and the ball where it is then."""
    canvas = (background or blank_card()).copy()
    canvas.disc(ball_x(index), TRACK_Y, _BALL_R, _BALL)
    return canvas.frame()
