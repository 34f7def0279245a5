"""Giveaways over HTTP: reading one (with its draw to verify once it ended), a show's
giveaways, and the winner's shipping address for the prize.

Starting, cancelling and entering are socket commands only (``realtime/gateway.py``): an
entrant must be present in the room, and a socket in the room is what present means.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from livecommerce.api.services import Services, json_body, require_identity, services
from livecommerce.errors import NotFound
from livecommerce.giveaways.service import Giveaways


def _giveaways(svc: Services) -> Giveaways:
    if svc.giveaways is None:
        raise NotFound("giveaways are not served here")
    return svc.giveaways


async def get_giveaway(request: Request) -> JSONResponse:
    """
    summary: One giveaway with its commitment; once ended, its seed (hex), the sorted entrant
      ids and the winner, so anyone can recompute the draw (docs/giveaways.md)
    responses:
      200: {description: the giveaway}
      404: {description: not_found}
    """
    service = _giveaways(services(request))
    giveaway = await service.giveaway(request.path_params["id"])
    return JSONResponse(await service.public(giveaway))


async def room_giveaways(request: Request) -> JSONResponse:
    """
    summary: A show's giveaways, oldest first, with entrant counts and results
    responses:
      200: {description: "{giveaways}"}
    """
    svc = services(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    return JSONResponse({"giveaways": await _giveaways(svc).room_giveaways(room.id)})


async def claim(request: Request) -> JSONResponse:
    """
    summary: The winner gives the prize's shipping address; the zero-price order is then
      paid with no charge. Only the winner; a repeat returns the same order
    responses:
      200: {description: "{order}"}
      403: {description: forbidden (not the winner)}
      409: {description: order_lapsed}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_body(request)
    order, _ = await _giveaways(svc).claim(who, request.path_params["order_id"], body)
    return JSONResponse({"order": order})


def routes() -> list[BaseRoute]:
    return [
        Route("/rooms/{room_id}/giveaways", room_giveaways, methods=["GET"]),
        Route("/giveaways/{id}", get_giveaway, methods=["GET"]),
        Route("/orders/{order_id}/claim", claim, methods=["POST"]),
    ]
