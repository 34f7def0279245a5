"""What counts as an uploaded image: the bytes decide, not the name or the label."""

from __future__ import annotations

import pytest

from livecommerce.catalog.images import (
    GIF,
    JPEG,
    PNG,
    WEBP,
    check_declared,
    is_uploaded,
    sniff,
)
from livecommerce.errors import UnsupportedImage
from livecommerce.runtime.ids import Ids
from tests.images import encode_image


def test_each_kind_is_known_by_its_bytes() -> None:
    assert [sniff(encode_image(k)) for k in ("png", "jpg", "webp", "gif")] == [
        PNG, JPEG, WEBP, GIF,
    ]  # fmt: skip


def test_a_webp_whose_riff_size_lies_is_refused() -> None:
    webp = encode_image("webp")
    with pytest.raises(UnsupportedImage):
        sniff(webp + b"<html>")  # more than the RIFF header says: something rides along


@pytest.mark.parametrize("declared", [None, "", "application/octet-stream", "image/jpg",
                                      "IMAGE/JPEG; charset=binary"])  # fmt: skip
def test_a_generic_or_matching_label_is_fine(declared: str | None) -> None:
    check_declared(declared, JPEG)


@pytest.mark.parametrize("declared", ["image/png", "text/html", "image/svg+xml"])
def test_a_label_that_disagrees_is_refused(declared: str) -> None:
    with pytest.raises(UnsupportedImage):
        check_declared(declared, JPEG)


def test_only_names_the_server_makes_are_uploaded_images() -> None:
    name = Ids().image(PNG.extension)
    assert is_uploaded("/images/" + name)
    assert not is_uploaded("/images/../secret.png")
    assert not is_uploaded("/images/" + name + ".html")
    assert not is_uploaded("https://cdn.example/images/" + name)
