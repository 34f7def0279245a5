"""Product images that creators upload: what the bytes are, never what the client says.

Pure: the HTTP edge (``api/images.py``) reads the body and writes the file. An upload is
accepted only when its first bytes are a PNG, JPEG, WebP or GIF signature with the start of
a well-formed file behind it, and nothing in its first kilobyte reads as markup: a file that
a browser could take for HTML or SVG (an "image" that is really a page, or a polyglot made
to be both) is refused, even though it is served as an image with ``nosniff``. The declared
Content-Type, when it names an image type, must agree with the bytes. Files are named by a
random id the server makes, with the extension of the sniffed type; a client's filename is
never used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from livecommerce.errors import UnsupportedImage

IMAGE_MAX_BYTES: Final = 5 * 1024 * 1024
URL_PREFIX: Final = "/images/"
# What the server names a file: "img_" + 22 url-safe characters + the type's extension.
NAME: Final = re.compile(r"img_[A-Za-z0-9_-]{22}\.(png|jpg|webp|gif)")
_MARKUP: Final = re.compile(
    rb"<\s*(?:!doctype|html|head|body|script|svg|iframe|object|embed|\?xml|meta|a\s)", re.I
)
_MARKUP_WINDOW: Final = 1024


@dataclass(frozen=True, slots=True)
class ImageType:
    media_type: str
    extension: str


PNG: Final = ImageType("image/png", "png")
JPEG: Final = ImageType("image/jpeg", "jpg")
WEBP: Final = ImageType("image/webp", "webp")
GIF: Final = ImageType("image/gif", "gif")
BY_EXTENSION: Final = {t.extension: t for t in (PNG, JPEG, WEBP, GIF)}
_DECLARED_ALIASES: Final = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


def sniff(data: bytes) -> ImageType:
    """The image type of ``data`` by its signature and structure; ``UnsupportedImage`` if it
    is none of PNG, JPEG, WebP or GIF, or carries markup."""
    kind = _signature(data)
    if kind is None:
        raise UnsupportedImage("the file is not a PNG, JPEG, WebP or GIF image")
    if _MARKUP.search(data[:_MARKUP_WINDOW]):
        raise UnsupportedImage("the file holds markup as well as an image; it is refused")
    return kind


def _signature(data: bytes) -> ImageType | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        # The first chunk of every PNG is IHDR, 13 bytes long.
        return PNG if data[8:16] == b"\x00\x00\x00\x0dIHDR" and len(data) >= 33 else None
    if data.startswith(b"\xff\xd8\xff") and len(data) >= 4:
        return JPEG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        # The RIFF size counts everything after its own 8 bytes.
        return WEBP if int.from_bytes(data[4:8], "little") + 8 == len(data) else None
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 13:
        return GIF
    return None


def check_declared(declared: str | None, kind: ImageType) -> None:
    """A declared image type must be the one the bytes are; a generic type is fine."""
    if declared is None:
        return
    media_type = declared.split(";", 1)[0].strip().lower()
    media_type = _DECLARED_ALIASES.get(media_type, media_type)
    if media_type.startswith("image/") and media_type != kind.media_type:
        raise UnsupportedImage(f"the file is {kind.media_type}, not {media_type[:40]}")
    if media_type not in ("", "application/octet-stream") and not media_type.startswith("image/"):
        raise UnsupportedImage("send the image with an image/* Content-Type")


def type_of_name(name: str) -> ImageType | None:
    """The type a stored file is served as, or None when ``name`` is not one of ours."""
    match = NAME.fullmatch(name)
    return BY_EXTENSION[match.group(1)] if match else None


def is_uploaded(url: str) -> bool:
    """Whether ``url`` names an uploaded image of this server (a path, not a URL)."""
    return url.startswith(URL_PREFIX) and type_of_name(url[len(URL_PREFIX) :]) is not None
