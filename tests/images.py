"""Real image files for the upload tests, encoded by FFmpeg through PyAV."""

from __future__ import annotations

import fractions

import av

_CODECS = {
    "png": ("png", "rgb24"),
    "jpg": ("mjpeg", "yuvj420p"),
    "gif": ("gif", "rgb8"),
    "webp": ("libwebp", "yuv420p"),
}


def encode_image(
    kind: str, width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (200, 60, 80)
) -> bytes:
    """A ``width`` x ``height`` picture of one colour as a whole PNG, JPEG, GIF or WebP file."""
    codec_name, pix_fmt = _CODECS[kind]
    codec = av.CodecContext.create(codec_name, "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height, codec.pix_fmt = width, height, pix_fmt
    codec.time_base = fractions.Fraction(1, 1)
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    row = bytes(rgb) * width + bytes(plane.line_size - width * 3)
    plane.update(row * height)
    frame = frame.reformat(format=pix_fmt)
    frame.pts = 0
    return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
