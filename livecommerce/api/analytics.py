"""A show's results over HTTP: the figures, and their tables as CSV."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from livecommerce.analytics import rules
from livecommerce.api.services import require_identity, services
from livecommerce.errors import BadRequest, NotFound

_TABLES = {
    "products": ("products", rules.PRODUCT_COLUMNS),
    "timeline": ("timeline", rules.TIMELINE_COLUMNS),
}


async def _results(request: Request) -> dict[str, Any]:
    svc = services(request)
    who = require_identity(request)
    if svc.analytics is None:
        raise NotFound("this server keeps no results")
    return await svc.analytics.results(who.id, request.path_params["room_id"])


async def results(request: Request) -> JSONResponse:
    """
    summary: A show's results (its host or an operator); docs/analytics.md defines each figure
    responses:
      200: {description: "{room, status, summary, products, timeline, markers, previous}"}
      403: {description: forbidden}
      409: {description: the show has not gone live}
    """
    return JSONResponse(await _results(request), headers={"Cache-Control": "no-store"})


async def results_csv(request: Request) -> Response:
    """
    summary: A show's per-product table or per-minute timeline as CSV
    parameters:
      - {name: table, in: query, schema: {type: string, enum: [products, timeline]}}
    responses:
      200: {description: text/csv}
    """
    table = request.query_params.get("table", "products")
    if table not in _TABLES:
        raise BadRequest("'table' must be products or timeline")
    found = await _results(request)
    name, columns = _TABLES[table]
    filename = f"results-{found['room']['id']}-{table}.csv"
    return Response(
        rules.to_csv(found[name], columns),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/rooms/{room_id}/results", results, methods=["GET"]),
        Route("/rooms/{room_id}/results.csv", results_csv, methods=["GET"]),
    ]
