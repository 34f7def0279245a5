"""Health, readiness, metrics, client config and the OpenAPI document."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.schemas import SchemaGenerator

from livecommerce.api.services import services
from livecommerce.chat.rules import CHAT_MAX_LENGTH
from livecommerce.errors import Unavailable
from livecommerce.realtime.wire import FRAME_MAX_BYTES, REACTION_KINDS

LOCALES = ("en", "nb", "sv", "nl", "lv")

schemas = SchemaGenerator({"openapi": "3.0.3", "info": {"title": "livecommerce", "version": "1"}})


def _version() -> str:
    try:
        return version("livecommerce")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0"


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await services(request).store.ping()
    except Unavailable as exc:
        return JSONResponse(
            {"status": "unavailable", "detail": exc.message},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    return JSONResponse({"status": "ready"})


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def ws_url(request: Request) -> str:
    svc = services(request)
    if svc.settings.public_ws_url:
        return svc.settings.public_ws_url.rstrip("/")
    scheme = "wss" if request.url.scheme == "https" else "ws"
    host = request.url.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{svc.ws_port}"


async def config(request: Request) -> JSONResponse:
    """
    summary: Where the sockets are and what the pages need to start
    responses:
      200: {description: "ws_url, api_url, version, locales, default_locale, limits, reactions,
        ice_servers"}
    """
    svc = services(request)
    api_url = (svc.settings.public_url or str(request.base_url)).rstrip("/") + "/api/v1"
    return JSONResponse(
        {
            "ws_url": ws_url(request),
            "api_url": api_url,
            "version": _version(),
            "locales": list(LOCALES),
            "default_locale": "en",
            "limits": {"chat_max_length": CHAT_MAX_LENGTH, "frame_max_bytes": FRAME_MAX_BYTES},
            "reactions": list(REACTION_KINDS),
            # Browsers need these before their offer: WHIP/WHEP answers come too late.
            "ice_servers": [
                {"urls": server.urls, "username": server.username, "credential": server.credential}
                if server.username
                else {"urls": server.urls}
                for server in svc.settings.ice_server_list()
            ],
        }
    )


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(schemas.get_schema(routes=request.app.routes))
