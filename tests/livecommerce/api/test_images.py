"""A creator uploads a product's picture; the server keeps only real images, names them
itself and serves them so that no browser can take one for a page."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from livecommerce.catalog.images import IMAGE_MAX_BYTES
from livecommerce.server import Server
from tests.helpers import User, add_product, sign_up
from tests.images import encode_image
from tests.livecommerce.conftest import ServerFactory


async def upload(
    http: httpx.AsyncClient,
    product_id: str,
    data: bytes,
    content_type: str | None,
    who: User | None,
) -> httpx.Response:
    headers = dict(who.headers) if who else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await http.post(f"/api/v1/products/{product_id}/image", content=data, headers=headers)


@pytest.mark.parametrize(
    ("kind", "media_type"),
    [("png", "image/png"), ("jpg", "image/jpeg"), ("webp", "image/webp"), ("gif", "image/gif")],
)
async def test_a_creator_uploads_a_products_image_and_everyone_can_see_it(
    server: Server, http: httpx.AsyncClient, kind: str, media_type: str
) -> None:
    ada = await sign_up(http, "Ada")
    product = await add_product(http, ada)
    picture = encode_image(kind)
    uploaded = await upload(http, product["id"], picture, media_type, ada)
    assert uploaded.status_code == 200, uploaded.text
    url = uploaded.json()["image_url"]
    assert url.startswith("/images/img_")
    assert url.endswith("." + kind)
    assert (await http.get(f"/api/v1/products/{product['id']}")).json()["image_url"] == url

    served = await http.get(url)  # no token: viewers and guests see product cards
    assert served.status_code == 200
    assert served.content == picture
    assert served.headers["content-type"] == media_type
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"]
    assert "sandbox" in served.headers["content-security-policy"]
    stored = server.settings.data_dir / "images" / url.rsplit("/", 1)[1]
    assert stored.read_bytes() == picture


async def test_the_clients_file_name_is_never_used(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    product = await add_product(http, ada)
    headers = {**ada.headers, "Content-Type": "image/png",
               "Content-Disposition": 'attachment; filename="../../evil.html"'}  # fmt: skip
    uploaded = await http.post(
        f"/api/v1/products/{product['id']}/image", content=encode_image("png"), headers=headers
    )
    assert uploaded.status_code == 200
    assert "evil" not in uploaded.json()["image_url"]


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
# A GIF header with a script behind it: an image to a sniffer that stops at the signature,
# a page to one that looks for markup.
POLYGLOT = b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;<script>alert(1)</script>" + bytes(64)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (HTML, "image/png"),  # a page with an image's name and type
        (HTML, "text/html"),
        (POLYGLOT, "image/gif"),
        (b"%PDF-1.7\n" + bytes(100), "application/pdf"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "image/svg+xml"),
        (encode_image("png"), "image/jpeg"),  # the bytes and the label disagree
        (encode_image("png"), "text/html"),
        (encode_image("png")[:20], "image/png"),  # cut short
        (b"", "image/png"),
    ],
    ids=[
        "html-as-png",
        "html",
        "gif-script-polyglot",
        "pdf",
        "svg",
        "png-as-jpeg",
        "png-as-html",
        "truncated",
        "empty",
    ],
)
async def test_anything_but_a_real_image_is_refused(
    server: Server, http: httpx.AsyncClient, data: bytes, content_type: str
) -> None:
    ada = await sign_up(http, "Ada")
    product = await add_product(http, ada, image_url="https://cdn.example/before.jpg")
    refused = await upload(http, product["id"], data, content_type, ada)
    assert refused.status_code == 415, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "unsupported_image"
    unchanged = (await http.get(f"/api/v1/products/{product['id']}")).json()
    assert unchanged["image_url"] == "https://cdn.example/before.jpg"
    assert not list((server.settings.data_dir / "images").glob("*"))


async def test_an_image_over_the_size_limit_is_refused_with_413(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    product = await add_product(http, ada)
    big = encode_image("png") + bytes(IMAGE_MAX_BYTES)
    refused = await upload(http, product["id"], big, "image/png", ada)
    assert refused.status_code == 413
    assert refused.json()["code"] == "too_large"

    async def chunks() -> object:  # no Content-Length: counted as it comes
        for _ in range(6):
            yield bytes(1024 * 1024)

    streamed = await http.post(
        f"/api/v1/products/{product['id']}/image",
        content=chunks(),  # type: ignore[arg-type]
        headers={**ada.headers, "Content-Type": "image/png"},
    )
    assert streamed.status_code == 413
    assert not list((server.settings.data_dir / "images").glob("*"))


async def test_only_the_products_creator_may_upload_its_image(http: httpx.AsyncClient) -> None:
    ada, eve = await sign_up(http, "Ada"), await sign_up(http, "Eve")
    product = await add_product(http, ada)
    picture = encode_image("png")
    theirs = await upload(http, product["id"], picture, "image/png", eve)
    assert theirs.status_code == 403
    assert theirs.json()["code"] == "forbidden"
    nobody = await upload(http, product["id"], picture, "image/png", None)
    assert nobody.status_code == 401
    assert nobody.json()["code"] == "unauthorized"
    missing = await upload(http, "p_nothing", picture, "image/png", ada)
    assert missing.status_code == 404
    assert (await http.get(f"/api/v1/products/{product['id']}")).json()["image_url"] == ""


@pytest.mark.parametrize(
    "path",
    [
        "/images/evil.html",
        "/images/img_..%2F..%2Fsecret",
        "/images/secret",
        "/images/img_AAAAAAAAAAAAAAAAAAAAAA.png",
    ],
)
async def test_only_stored_images_are_served(http: httpx.AsyncClient, path: str) -> None:
    assert (await http.get(path)).status_code == 404


async def test_an_upload_on_one_process_is_served_by_another_sharing_the_data_dir(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    first = await start_server(data_dir=shared)
    second = await start_server(data_dir=shared)
    async with (
        httpx.AsyncClient(base_url=first.http_url) as one,
        httpx.AsyncClient(base_url=second.http_url) as two,
    ):
        ada = await sign_up(one, "Ada")
        product = await add_product(one, ada)
        picture = encode_image("jpg")
        url = (await upload(one, product["id"], picture, "image/jpeg", ada)).json()["image_url"]
        served = await two.get(url)
        assert served.status_code == 200
        assert served.content == picture


async def test_uploads_are_rate_limited_per_account(start_server: ServerFactory) -> None:
    server = await start_server(limit_images="1/2")
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ada = await sign_up(http, "Ada")
        product = await add_product(http, ada)
        answers = await asyncio.gather(
            *[upload(http, product["id"], encode_image("gif"), "image/gif", ada) for _ in range(3)]
        )
        assert sorted(a.status_code for a in answers) == [200, 200, 429]
