"""Group buys over HTTP: reading a group and its progress, joining with a card, one's own join.

The host starts and stops group buys over the socket (``groupbuy.start``, ``groupbuy.stop``)
or here; joining takes an address and a card, so it is HTTP only, with an
``Idempotency-Key`` as checkout has.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from livecommerce.api.services import (
    Services,
    json_body,
    json_object,
    require_identity,
    services,
)
from livecommerce.errors import NotFound
from livecommerce.groupbuys.rules import parse_group_buy_draft
from livecommerce.groupbuys.service import GroupBuys
from livecommerce.selling.checkout import parse_idempotency_key


def _groups(svc: Services) -> GroupBuys:
    if svc.groupbuys is None:
        raise NotFound("group buys are not available here")
    return svc.groupbuys


async def start(request: Request) -> JSONResponse:
    """
    summary: Start a group buy in a live room (host only)
    responses:
      201: {description: the group buy}
      400: {description: "bad_request or price_not_below_list"}
      409: {description: "room_not_live or out_of_stock"}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_object(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    group = await _groups(svc).start(who, room, parse_group_buy_draft(body))
    return JSONResponse(group.to_public(), status_code=201)


async def room_groups(request: Request) -> JSONResponse:
    """
    summary: A room's group buys, newest first
    responses:
      200: {description: "{group_buys}"}
    """
    svc = services(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    groups = await _groups(svc).room_groups(room.id)
    return JSONResponse({"group_buys": [g.to_public() for g in groups]})


async def get_group(request: Request) -> JSONResponse:
    """
    summary: One group buy with its progress (joined, units left, state)
    responses:
      200: {description: the group buy}
      404: {description: not_found}
    """
    group = await _groups(services(request)).group(request.path_params["id"])
    return JSONResponse(group.to_public())


async def stop(request: Request) -> JSONResponse:
    """
    summary: Stop a group buy (host only); before it filled, every card is released
    responses:
      200: {description: the group buy}
      409: {description: group_buy_not_open}
    """
    svc = services(request)
    who = require_identity(request)
    groups = _groups(svc)
    group = await groups.group(request.path_params["id"])
    room = await svc.rooms.room(group.room_id)
    return JSONResponse((await groups.stop(who, room, group.id)).to_public())


async def join(request: Request) -> JSONResponse:
    """
    summary: Join a group buy with an address and a card; the card is authorised now and
      charged only if the group fills. The same Idempotency-Key returns the same join.
    responses:
      201: {description: "{join, group}: join.state authorised, or captured once filled"}
      400: {description: bad_request (a missing Idempotency-Key too)}
      402: {description: payment_declined}
      409: {description: "group_buy_not_open, sold_out, already_joined or
        idempotency_key_reused"}
    """
    svc = services(request)
    who = require_identity(request)
    key = parse_idempotency_key(request.headers.get("idempotency-key"))
    body = await json_body(request)
    joined, group, _made = await _groups(svc).join(who, request.path_params["id"], body, key)
    return JSONResponse({"join": joined.to_public(), "group": group.to_public()}, status_code=201)


async def my_join(request: Request) -> JSONResponse:
    """
    summary: The caller's own join of a group buy
    responses:
      200: {description: "{join}"}
      404: {description: not_found (never joined)}
    """
    svc = services(request)
    found = await _groups(svc).my_join(require_identity(request), request.path_params["id"])
    return JSONResponse({"join": found.to_public()})


async def leave(request: Request) -> JSONResponse:
    """
    summary: Leave a group buy before it fills; the unit goes back and the card is released
    responses:
      200: {description: "{join, group}: join.state voided"}
      404: {description: not_found (no live join)}
      409: {description: group_buy_not_open (it has filled or closed)}
    """
    svc = services(request)
    left, group = await _groups(svc).leave(require_identity(request), request.path_params["id"])
    return JSONResponse({"join": left.to_public(), "group": group.to_public()})


def routes() -> list[BaseRoute]:
    return [
        Route("/rooms/{room_id}/group-buys", start, methods=["POST"]),
        Route("/rooms/{room_id}/group-buys", room_groups, methods=["GET"]),
        Route("/group-buys/{id}", get_group, methods=["GET"]),
        Route("/group-buys/{id}/stop", stop, methods=["POST"]),
        Route("/group-buys/{id}/join", join, methods=["POST"]),
        Route("/group-buys/{id}/join", my_join, methods=["GET"]),
        Route("/group-buys/{id}/join", leave, methods=["DELETE"]),
    ]
