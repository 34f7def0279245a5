"""Moderation over HTTP: appoint moderators, use tools, read the audit log and the reports.

The tools take the same bodies as the socket's ``mod.*`` commands, so the console can use
either; both go through ``Moderators``, which checks rights against the room as stored now.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from livecommerce.api.services import json_object, require_identity, services
from livecommerce.errors import BadRequest
from livecommerce.moderation.rules import ModAction, parse_mod_request, parse_report
from livecommerce.numbers import is_digits, whole_in

AUDIT_PAGE_MAX = 200


async def appoint(request: Request) -> JSONResponse:
    """
    summary: Make a person a moderator of the room (host only)
    responses:
      200: {description: "{moderators: [user ids]}"}
      401: {description: unauthorized}
      403: {description: forbidden}
      404: {description: not_found}
    """
    return await _roster(request, ModAction.APPOINT)


async def remove(request: Request) -> JSONResponse:
    """
    summary: End a person's moderator rights in the room, at once, on every process (host only)
    responses:
      200: {description: "{moderators: [user ids]}"}
      401: {description: unauthorized}
      403: {description: forbidden}
      404: {description: not_found (not a moderator)}
    """
    return await _roster(request, ModAction.REMOVE)


async def _roster(request: Request, action: ModAction) -> JSONResponse:
    svc = services(request)
    who = require_identity(request)
    room_id = request.path_params["room_id"]
    user_id = str(request.path_params["user_id"])
    parsed = parse_mod_request({"type": action.value, "user_id": user_id})
    await svc.moderators.act(who, room_id, parsed)
    room = await svc.rooms.room(room_id)
    return JSONResponse({"moderators": list(room.moderators)})


async def use_tool(request: Request) -> JSONResponse:
    """
    summary: Use a moderation tool; the body is the socket's mod.* command
    description: >
      type is one of mod.delete {message_id}, mod.timeout {user_id, seconds}, mod.untimeout
      {user_id}, mod.ban {user_id}, mod.unban {user_id}, mod.slow {seconds}, mod.pin_chat
      {message_id}, mod.unpin_chat, mod.words {words}, mod.resolve {report_id}; each may carry
      a reason.
    responses:
      200: {description: "{action, seq?, until?}"}
      400: {description: bad_request}
      401: {description: unauthorized}
      403: {description: forbidden}
      404: {description: not_found}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_object(request)
    parsed = parse_mod_request(body)
    if parsed.action in (ModAction.APPOINT, ModAction.REMOVE):
        raise BadRequest("appoint and remove moderators with PUT or DELETE on /moderators")
    ack = await svc.moderators.act(who, request.path_params["room_id"], parsed)
    return JSONResponse(ack)


async def state(request: Request) -> JSONResponse:
    """
    summary: The room's moderation settings (host, moderators, operators)
    responses:
      200: {description: "{moderators, slow_s, words, banned, timeouts, open_reports}"}
      401: {description: unauthorized}
      403: {description: forbidden}
    """
    svc = services(request)
    room = await svc.moderators.room_for(require_identity(request), request.path_params["room_id"])
    store = svc.moderators.moderation
    return JSONResponse(
        {
            "moderators": list(room.moderators),
            "slow_s": room.slow_s,
            "words": await store.words(room.id),
            "banned": await store.banned(room.id),
            "timeouts": await store.timeouts(room.id, svc.now_ms()),
            "open_reports": await store.count_open_reports(room.id),
        }
    )


async def audit(request: Request) -> JSONResponse:
    """
    summary: The room's audit log, newest first (host, moderators, operators)
    parameters:
      - {name: limit, in: query, schema: {type: integer, maximum: 200}}
      - {name: before, in: query, schema: {type: string}, description: entry id to page from}
    responses:
      200: {description: "{entries: [{id, at, actor, action, target?, seconds?, reason?}]}"}
      401: {description: unauthorized}
      403: {description: forbidden}
    """
    svc = services(request)
    room = await svc.moderators.room_for(require_identity(request), request.path_params["room_id"])
    limit = whole_in(request.query_params.get("limit", "50"), "limit", 1, AUDIT_PAGE_MAX)
    before = request.query_params.get("before", "")
    if before and not _entry_id(before):
        raise BadRequest("'before' must be an audit entry id")
    end = f"({before}" if before else "+"
    entries = await svc.moderators.moderation.audit(room.id, limit, end)
    return JSONResponse({"entries": entries})


async def reports(request: Request) -> JSONResponse:
    """
    summary: Open reports, oldest first (host, moderators, operators)
    responses:
      200: {description: "{reports: [...]}"}
      401: {description: unauthorized}
      403: {description: forbidden}
    """
    svc = services(request)
    room = await svc.moderators.room_for(require_identity(request), request.path_params["room_id"])
    return JSONResponse({"reports": await svc.moderators.moderation.open_reports(room.id)})


async def file_report(request: Request) -> JSONResponse:
    """
    summary: Report a chat line to the room's moderators (signed in)
    requestBody: {content: {application/json: {schema: {type: object,
      required: [message_id, reason], properties: {message_id: {type: string},
      reason: {type: string, enum: [spam, harassment, hate, scam, sexual, other]},
      note: {type: string, maxLength: 300}}}}}}
    responses:
      201: {description: the report}
      400: {description: bad_request}
      401: {description: unauthorized}
      404: {description: not_found}
      429: {description: rate_limited}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_object(request)
    report = await svc.moderators.report(who, request.path_params["room_id"], parse_report(body))
    if svc.analytics is not None:
        svc.analytics.count(request.path_params["room_id"], "reports")
    return JSONResponse(report, status_code=201)


async def person(request: Request) -> JSONResponse:
    """
    summary: One person in the room, for the console's user panel (host, moderators, operators)
    responses:
      200: {description: "{user_id, banned, timed_out_until, moderator, messages, holds, orders}"}
      401: {description: unauthorized}
      403: {description: forbidden}
    """
    svc = services(request)
    room = await svc.moderators.room_for(require_identity(request), request.path_params["room_id"])
    user_id = str(request.path_params["user_id"])[:64]
    store = svc.moderators.moderation
    banned, until = await store.standing(room.id, user_id)
    orders = [o for o in await svc.checkout.orders_of_room(room.id) if o["buyer"]["id"] == user_id]
    return JSONResponse(
        {
            "user_id": user_id,
            "moderator": user_id in room.moderators,
            "banned": banned,
            "timed_out_until": until if until > svc.now_ms() else 0,
            "messages": await store.messages_of(room.id, user_id),
            "holds": [
                h.to_public() for h in await svc.reservations.sales.open_holds_of(room.id, user_id)
            ],
            "orders": orders,
        }
    )


def _entry_id(raw: str) -> bool:
    ms, _, n = raw.partition("-")
    return is_digits(ms) and is_digits(n)


def routes() -> list[Route]:
    base = "/rooms/{room_id}"
    return [
        Route(f"{base}/moderators/{{user_id}}", appoint, methods=["PUT"]),
        Route(f"{base}/moderators/{{user_id}}", remove, methods=["DELETE"]),
        Route(f"{base}/moderation", state, methods=["GET"]),
        Route(f"{base}/moderation", use_tool, methods=["POST"]),
        Route(f"{base}/audit", audit, methods=["GET"]),
        Route(f"{base}/reports", reports, methods=["GET"]),
        Route(f"{base}/reports", file_report, methods=["POST"]),
        Route(f"{base}/people/{{user_id}}", person, methods=["GET"]),
    ]
