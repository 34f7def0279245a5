"""Rooms over HTTP: create, list, read, start and end."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse

from livecommerce.api.services import identity, json_body, require_identity, services
from livecommerce.errors import BadRequest
from livecommerce.numbers import whole_in
from livecommerce.rooms.rules import Room, RoomState, parse_disclosure, parse_room_draft
from livecommerce.runtime import metrics

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
    now = svc.now_ms()
    draft = parse_room_draft(await json_body(request), now)
    room = Room(
        id="r_" + secrets.token_urlsafe(9),
        title=draft.title,
        host_id=who.id,
        host_name=who.name,
        currency=draft.currency,
        locale=draft.locale,
        created_at=now,
        description=draft.description,
        scheduled_at=draft.scheduled_at,
        epoch=secrets.token_hex(4),
        paid_partnership=draft.paid_partnership,
    )
    await svc.store.create_room(room)
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
    ids = await svc.store.room_ids(state, host_id, limit)
    rooms = await svc.store.rooms(ids)
    if state is not None:
        rooms = [r for r in rooms if r.state is state]  # the indexes heal on their own
    return JSONResponse({"rooms": [r.to_public() for r in rooms]})


async def get_room(request: Request) -> JSONResponse:
    """
    summary: One room
    responses:
      200: {description: the room}
      404: {description: not_found}
    """
    identity(request, required=False)
    room = await services(request).store.room(request.path_params["room_id"])
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
    room = await svc.store.room(request.path_params["room_id"])
    room.require_host(who.id)
    body = await json_body(request)
    if not isinstance(body, dict) or "paid_partnership" not in body:
        raise BadRequest("the body must be an object with 'paid_partnership'")
    paid = parse_disclosure(body, room.paid_partnership)
    await svc.store.set_room_field(room.id, "paid_partnership", "1" if paid else "")
    await svc.store.publish(room.id, {"type": "room.disclosure", "paid_partnership": paid})
    return JSONResponse((await svc.store.room(room.id)).to_public())


async def _transition(request: Request, to: RoomState) -> JSONResponse:
    svc = services(request)
    who = require_identity(request)
    room = await svc.store.room(request.path_params["room_id"])
    room.require_host(who.id)
    now = svc.now_ms()
    event = {"type": "room.state", "state": str(to), "at": now}
    if to is RoomState.ENDED:
        moved, _seq, stopped = await svc.store.end_room(room, now, event)
        for sale_id in stopped:
            metrics.EVENTS_PUBLISHED.labels("sale.ended").inc()
            await svc.reservations.tell(
                room.id, "sale.ended", {"sale_id": sale_id, "reason": "stopped"}
            )
    else:
        moved, _seq = await svc.store.transition_room(room, to, now, event)
    metrics.EVENTS_PUBLISHED.labels("room.state").inc()
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
