"""Errors become problem+json (RFC 9457) in this one place."""

from __future__ import annotations

import logging
import secrets

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from livecommerce.errors import (
    LiveCommerceError,
    Overloaded,
    RateLimited,
    RequestTimeout,
    Unavailable,
)
from livecommerce.runtime import metrics

log = logging.getLogger("livecommerce.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
}


def problem(
    body: dict[str, object], status: int, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )


async def on_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LiveCommerceError)
    headers = {}
    if isinstance(exc, RateLimited | Unavailable | Overloaded):
        headers["Retry-After"] = str(max(1, round(exc.retry_after + 0.499)))
    if isinstance(exc, Unavailable):
        metrics.STORE_UNAVAILABLE.inc()
    if isinstance(exc, RequestTimeout):
        headers["Connection"] = "close"  # or the server would wait out the rest of the body
    return problem(exc.to_problem(), exc.status, headers)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else "bad_request")
    body = {
        "type": f"https://livecommerce.dev/problems/{code}",
        "title": code.replace("_", " ").capitalize(),
        "status": exc.status_code,
        "code": code,
        "detail": exc.detail,
    }
    return problem(body, exc.status_code, dict(exc.headers or {}))


async def on_crash(request: Request, exc: Exception) -> Response:
    request_id = secrets.token_hex(6)
    log.exception("unhandled error", extra={"request_id": request_id, "path": request.url.path})
    body = {
        "type": "https://livecommerce.dev/problems/internal",
        "title": "Internal error",
        "status": 500,
        "code": "internal",
        "detail": f"request {request_id} failed",
    }
    return problem(body, 500)
