"""Rooms over HTTP: create, list, read, start and end."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from livecommerce.api.services import identity, json_body, require_identity, services
from livecommerce.errors import BadRequest
from livecommerce.numbers import whole_in
from livecommerce.rooms.rules import RoomState, parse_disclosure_change, parse_room_draft

_STATES = {"live": RoomState.LIVE, "upcoming": RoomState.SCHEDULED, "ended": RoomState.ENDED}


async def create_room(request: Request) -> JSONResponse:
    """
    summary: Create a room (a show); the caller becomes its host
    requestBody: {content: {application/json: {schema: {type: object, required: [title, currency],
      properties: {title: {type: string}, currency: {type: string}, locale: {type: string},
      description: {type: string}, scheduled_at: {type: integer}}}}}}
    responses:
      201: {description: the room}
      400: {description: bad_request}
      401: {description: unauthorized}
    """
    svc = services(request)
    who = require_identity(request)
    draft = parse_room_draft(await json_body(request), svc.now_ms())
    room = await svc.rooms.create(who, draft)
    return JSONResponse(room.to_public(), status_code=201)


async def list_rooms(request: Request) -> JSONResponse:
    """
    summary: List rooms that are live, upcoming or ended, or the caller's own (host=me)
    parameters:
      - {name: state, in: query, schema: {type: string, enum: [live, upcoming, ended]}}
      - {name: host, in: query, schema: {type: string, enum: [me]}}
      - {name: limit, in: query, schema: {type: integer, maximum: 100}}
    responses:
      200: {description: "{rooms: [room]}"}
    """
    svc = services(request)
    state_name = request.query_params.get("state")
    host = request.query_params.get("host")
    limit_raw = request.query_params.get("limit", "50")
    limit = whole_in(limit_raw, "limit", 1, 100)
    host_id = None
    if host is not None:
        if host != "me":
            raise BadRequest("'host' takes only 'me'")
        host_id = require_identity(request).id
    state = None
    if state_name is not None:
        if state_name not in _STATES:
            raise BadRequest("'state' must be live, upcoming or ended")
        state = _STATES[state_name]
    elif host_id is None:
        state = RoomState.LIVE
    rooms = await svc.rooms.listing(state, host_id, limit)
    return JSONResponse({"rooms": [r.to_public() for r in rooms]})


async def get_room(request: Request) -> JSONResponse:
    """
    summary: One room
    responses:
      200: {description: the room}
      404: {description: not_found}
      503: {description: overloaded (the page's viewing session starts later; Retry-After)}
    """
    svc = services(request)
    who = identity(request, required=False)
    room = await svc.rooms.room(request.path_params["room_id"])
    svc.admit_viewer("room", who, room.host_id)
    return JSONResponse(room.to_public())


async def update_room(request: Request) -> JSONResponse:
    """
    summary: Change a room's disclosure (host only); everyone in the room is told at once
    requestBody: {content: {application/json: {schema: {type: object, required: [paid_partnership],
      properties: {paid_partnership: {type: boolean}}}}}}
    responses:
      200: {description: the room}
      400: {description: bad_request}
      403: {description: forbidden}
    """
    svc = services(request)
    who = require_identity(request)
    room = await svc.rooms.hosted(who, request.path_params["room_id"])
    paid = parse_disclosure_change(await json_body(request), room.paid_partnership)
    return JSONResponse((await svc.rooms.disclose(who, room, paid)).to_public())


async def _transition(request: Request, to: RoomState) -> JSONResponse:
    svc = services(request)
    who = require_identity(request)
    room = await svc.rooms.hosted(who, request.path_params["room_id"])
    moved = await svc.rooms.transition(who, room, to)
    return JSONResponse(moved.to_public())


async def start_room(request: Request) -> JSONResponse:
    """
    summary: Go live (host only)
    responses:
      200: {description: the room, now live}
      403: {description: forbidden}
      409: {description: conflict (not scheduled)}
    """
    return await _transition(request, RoomState.LIVE)


async def end_room(request: Request) -> JSONResponse:
    """
    summary: End the show (host only); its running sales stop in the same step
    responses:
      200: {description: the room, now ended}
      403: {description: forbidden}
      409: {description: conflict (already ended)}
    """
    return await _transition(request, RoomState.ENDED)
