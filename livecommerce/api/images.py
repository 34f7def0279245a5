"""Product images over HTTP: the owner uploads one, anyone fetches it.

The file goes to ``<data-dir>/images/`` under a name the server makes; the product's
``image_url`` then points at ``/images/<name>``. Like recordings, the files are served only
from this process's directory: processes behind one address share the data directory (or
its ``images`` folder), see docs/operations.md. Files are never changed once written, so
they may be cached for good; an image replaced on a product leaves the old file, which a
flash sale's card may still show.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from livecommerce.api.products import catalog
from livecommerce.api.services import read_body, require_identity, services
from livecommerce.catalog.images import (
    IMAGE_MAX_BYTES,
    URL_PREFIX,
    check_declared,
    sniff,
    type_of_name,
)
from livecommerce.errors import NotFound

_SERVED = {
    "X-Content-Type-Options": "nosniff",
    # Names are never reused and files never change.
    "Cache-Control": "public, max-age=31536000, immutable",
    # Opened on its own, the file is an inert image: no scripts, no plugins, no forms.
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
    "Content-Disposition": "inline",
}


def images_dir(request: Request) -> Path:
    return services(request).settings.data_dir / "images"


def _write(directory: Path, name: str, data: bytes) -> None:
    """Write whole or not at all: a reader never sees half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, directory / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


async def upload_image(request: Request) -> JSONResponse:
    """
    summary: Upload the product's image (its creator only); the body is the image itself
    description: >
      PNG, JPEG, WebP or GIF, at most 5 MiB, sent as the raw body with its image/* type (or
      application/octet-stream). The type is read from the bytes; a declared type that
      disagrees, or a file that also holds markup, is refused. The product's image_url
      becomes /images/<name>, a name the server makes.
    requestBody:
      content:
        image/png: {schema: {type: string, format: binary}}
        image/jpeg: {schema: {type: string, format: binary}}
        image/webp: {schema: {type: string, format: binary}}
        image/gif: {schema: {type: string, format: binary}}
    responses:
      200: {description: the product, its image_url pointing at the upload}
      401: {description: unauthorized}
      403: {description: forbidden (someone else's product)}
      404: {description: not_found}
      413: {description: too_large (over 5 MiB)}
      415: {description: unsupported_image (not PNG, JPEG, WebP or GIF, or not what it says)}
      429: {description: rate_limited}
    """
    svc = services(request)
    who = require_identity(request)
    store = catalog(request)
    product = await store.product(request.path_params["product_id"])
    product.require_owner(who.id)
    await svc.limiter.check(svc.settings.limit("images"), who.id)
    data = await read_body(request, IMAGE_MAX_BYTES)
    kind = sniff(data)
    check_declared(request.headers.get("content-type"), kind)
    name = svc.ids.image(kind.extension)
    await run_in_threadpool(_write, images_dir(request), name, data)
    updated = await store.update_product(product, {"image_url": URL_PREFIX + name}, svc.now_ms())
    return JSONResponse(updated.to_public())


async def image_file(request: Request) -> Response:
    name = request.path_params["name"]
    kind = type_of_name(name)
    path = images_dir(request) / name
    if kind is None or not path.is_file():
        raise NotFound("no such image")
    return FileResponse(path, media_type=kind.media_type, headers=_SERVED)


def api_routes() -> list[Route]:
    """Relative to /api/v1."""
    return [Route("/products/{product_id}/image", upload_image, methods=["POST"])]


def routes() -> list[Route]:
    return [Route("/images/{name}", image_file, methods=["GET", "HEAD"], include_in_schema=False)]
