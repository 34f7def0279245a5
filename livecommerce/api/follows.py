"""Follows over HTTP: following creators, a creator's page, reminders of a show, its
calendar file, and the show's audience for the merchant (docs/follows.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from livecommerce.api.services import identity, require_identity, services
from livecommerce.errors import NotFound
from livecommerce.follows.rules import calendar_filename
from livecommerce.follows.service import Follows
from livecommerce.numbers import whole_in


def _follows(request: Request) -> Follows:
    found = services(request).follows
    if found is None:
        raise NotFound("this server keeps no follows")
    return found


async def _follow(request: Request, on: bool) -> JSONResponse:
    who = require_identity(request)
    room_id = request.query_params.get("room")
    answer = await _follows(request).follow(
        who, request.path_params["creator_id"], on, room_id=room_id
    )
    return JSONResponse(answer)


async def follow(request: Request) -> JSONResponse:
    """
    summary: Follow a creator (idempotent); ?room=<id> names the live show it was pressed in
    parameters:
      - {name: room, in: query, schema: {type: string}}
    responses:
      200: {description: "{following: true, followers}"}
      400: {description: cannot_follow_self}
      401: {description: unauthorized}
      404: {description: not_found (no such creator)}
      429: {description: rate_limited}
    """
    return await _follow(request, True)


async def unfollow(request: Request) -> JSONResponse:
    """
    summary: Stop following a creator (idempotent)
    responses:
      200: {description: "{following: false, followers}"}
      401: {description: unauthorized}
      404: {description: not_found}
      429: {description: rate_limited}
    """
    return await _follow(request, False)


async def creator(request: Request) -> JSONResponse:
    """
    summary: A creator's public profile, with their live, upcoming and recent shows
    responses:
      200: {description: "{id, name, followers, you: {following} | null, shows: {live,
        upcoming, ended}}"}
      404: {description: not_found (no such creator, or a deleted account)}
    """
    who = identity(request, required=False)
    profile = await _follows(request).profile(request.path_params["creator_id"], who)
    return JSONResponse(profile, headers={"Cache-Control": "no-store"})


async def following(request: Request) -> JSONResponse:
    """
    summary: The creators the signed-in person follows, a page at a time
    parameters:
      - {name: cursor, in: query, schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, maximum: 100}}
    responses:
      200: {description: "{creators: [{id, name}], next_cursor}"}
      401: {description: unauthorized}
    """
    who = require_identity(request)
    limit = whole_in(request.query_params.get("limit", "50"), "limit", 1, 100)
    page = await _follows(request).following(who, request.query_params.get("cursor"), limit)
    return JSONResponse(page)


async def reminder(request: Request) -> JSONResponse:
    """
    summary: Whether the caller asked to be reminded of a show, and how many did
    responses:
      200: {description: "{reminded: bool | null, reminders, followers, following}"}
      404: {description: not_found}
    """
    who = identity(request, required=False)
    answer = await _follows(request).reminder(who, request.path_params["room_id"])
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


async def _remind(request: Request, on: bool) -> JSONResponse:
    who = require_identity(request)
    answer = await _follows(request).remind(who, request.path_params["room_id"], on)
    return JSONResponse(answer)


async def remind(request: Request) -> JSONResponse:
    """
    summary: Remind me of this show (idempotent); the merchant gets show.reminder and show.live
    responses:
      200: {description: "{reminded: true, reminders}"}
      401: {description: unauthorized}
      404: {description: not_found}
      409: {description: show_ended}
      429: {description: rate_limited}
    """
    return await _remind(request, True)


async def unremind(request: Request) -> JSONResponse:
    """
    summary: Stop reminding me of this show (idempotent)
    responses:
      200: {description: "{reminded: false, reminders}"}
      401: {description: unauthorized}
      404: {description: not_found}
    """
    return await _remind(request, False)


async def calendar_file(request: Request) -> Response:
    """
    summary: The show as an iCalendar file (text/calendar), to add to a calendar
    responses:
      200: {description: text/calendar}
      404: {description: not_found}
    """
    room, body = await _follows(request).calendar(request.path_params["room_id"])
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{calendar_filename(room)}"',
            "Cache-Control": "no-cache",
        },
    )


async def audience(request: Request) -> JSONResponse:
    """
    summary: Who to notify of a show (host or operator), a page at a time
    description: >
      The creator's followers, then those who asked to be reminded and do not follow; each
      person once. A page may be short or empty while next_cursor is not null.
    parameters:
      - {name: cursor, in: query, schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, maximum: 500}}
    responses:
      200: {description: "{people: [{id, name}], next_cursor, followers, reminders}"}
      401: {description: unauthorized}
      403: {description: forbidden}
      404: {description: not_found}
    """
    svc = services(request)
    who = require_identity(request)
    limit = whole_in(request.query_params.get("limit", "100"), "limit", 1, 500)
    admin = await svc.accounts.store.is_admin(who.id)
    page = await _follows(request).audience(
        who, request.path_params["room_id"], request.query_params.get("cursor"), limit, admin=admin
    )
    return JSONResponse(page, headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [
        Route("/creators/{creator_id}", creator, methods=["GET"]),
        Route("/creators/{creator_id}/follow", follow, methods=["PUT"]),
        Route("/creators/{creator_id}/follow", unfollow, methods=["DELETE"]),
        Route("/me/following", following, methods=["GET"]),
        Route("/rooms/{room_id}/reminder", reminder, methods=["GET"]),
        Route("/rooms/{room_id}/reminder", remind, methods=["PUT"]),
        Route("/rooms/{room_id}/reminder", unremind, methods=["DELETE"]),
        Route("/rooms/{room_id}/calendar.ics", calendar_file, methods=["GET"]),
        Route("/rooms/{room_id}/audience", audience, methods=["GET"]),
    ]
