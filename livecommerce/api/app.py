"""The starlette application: routes and the error mapping, nothing else."""

from __future__ import annotations

import logging
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecommerce.api import (
    accounts,
    analytics,
    auctions,
    follows,
    giveaways,
    groupbuys,
    images,
    media,
    moderation,
    ops,
    pages,
    polls,
    problems,
    products,
    reviews,
    rooms,
    selling,
)
from livecommerce.api.guards import DeletedAccounts
from livecommerce.api.services import Services
from livecommerce.errors import LiveCommerceError
from livecommerce.media.plane import Media
from livecommerce.runtime import metrics

log = logging.getLogger("livecommerce.http")


class AccessLog:
    """One structured log line and one counter per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics.HTTP_REQUESTS.labels(scope["method"], str(status)).inc()
            if scope["path"] not in ("/healthz", "/metrics") and not scope["path"].startswith(
                "/static/"
            ):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )


def create_app(services: Services, plane: Media) -> Starlette:
    api = [
        Route("/config", ops.config, methods=["GET"]),
        Route("/openapi.json", ops.openapi, methods=["GET"], include_in_schema=False),
        Route("/accounts", accounts.create_account, methods=["POST"]),
        Route("/sessions", accounts.create_session, methods=["POST"]),
        Route("/sessions/current", accounts.delete_session, methods=["DELETE"]),
        Route("/me", accounts.me, methods=["GET"]),
        Route("/me", accounts.delete_me, methods=["DELETE"]),
        Route("/me/export", accounts.export_me, methods=["GET"]),
        Route("/rooms", rooms.create_room, methods=["POST"]),
        Route("/rooms", rooms.list_rooms, methods=["GET"]),
        Route("/rooms/{room_id}", rooms.get_room, methods=["GET"]),
        Route("/rooms/{room_id}", rooms.update_room, methods=["PATCH"]),
        Route("/rooms/{room_id}/start", rooms.start_room, methods=["POST"]),
        Route("/rooms/{room_id}/end", rooms.end_room, methods=["POST"]),
        *products.routes(),
        *images.api_routes(),
        *selling.routes(),
        *auctions.routes(),
        *giveaways.routes(),
        *polls.routes(),
        *groupbuys.routes(),
        *analytics.routes(),
        *follows.routes(),
        *moderation.routes(),
        *reviews.routes(),
        *media.api_routes(),
    ]
    routes = [
        Mount("/api/v1", routes=api),
        *media.routes(),
        *images.routes(),
        Route("/healthz", ops.healthz, include_in_schema=False),
        Route("/readyz", ops.readyz, include_in_schema=False),
        Route("/metrics", ops.metrics_endpoint, include_in_schema=False),
        Route("/", pages.index, include_in_schema=False),
        Route("/rooms/{room_id}", pages.viewer, include_in_schema=False),
        Route("/rooms/{room_id}/console", pages.console, include_in_schema=False),
        Route("/creators/{creator_id}", pages.creator, include_in_schema=False),
        Route("/studio", pages.studio, include_in_schema=False),
        Route("/studio/results", pages.results, include_in_schema=False),
        Mount("/static", StaticFiles(directory=pages.STATIC_DIR, check_dir=False), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AccessLog),
            Middleware(media.MediaCors),
            Middleware(DeletedAccounts),
        ],
        exception_handlers={
            LiveCommerceError: problems.on_error,
            HTTPException: problems.on_http_error,
            Exception: problems.on_crash,
        },
    )
    app.state.services = services
    app.state.media = plane
    return app
