"""The browser pages: static files, one HTML document per page."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

STATIC_DIR = Path(
    os.environ.get("LIVECOMMERCE_STATIC_DIR") or Path(__file__).resolve().parents[2] / "static"
)

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' https: data: blob:; media-src 'self' blob:; "
        # http: and https: because a WHEP offer may be redirected to another process's origin.
        "connect-src 'self' http: https: ws: wss:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def _page(name: str) -> Response:
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=_HEADERS)


async def index(request: Request) -> Response:
    return _page("index.html")


async def viewer(request: Request) -> Response:
    return _page("viewer.html")


async def studio(request: Request) -> Response:
    return _page("studio.html")


async def results(request: Request) -> Response:
    """A show's results (`?room=<id>`): the page asks the API, which says whose they are."""
    return _page("results.html")


async def console(request: Request) -> Response:
    return _page("console.html")


async def creator(request: Request) -> Response:
    """A creator's page: who they are, their followers, their shows (js/creator.js)."""
    return _page("creator.html")
