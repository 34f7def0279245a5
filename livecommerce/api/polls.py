"""Polls over HTTP: a show's polls with their results, for its results page and replay.

Polls are started, ended and voted on over the room's socket (``realtime/gateway.py``); what
is read back afterwards is here.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from livecommerce.api.services import services
from livecommerce.errors import NotFound


async def room_polls(request: Request) -> JSONResponse:
    """
    summary: A show's polls in the order they started, each with its results
    description: >
      A running poll shows its counts so far and never a quiz's answer; an ended quiz shows
      its answer and its leaderboard (a deleted account's place shows nobody).
    responses:
      200: {description: "{polls}"}
      404: {description: not_found}
    """
    svc = services(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    if svc.polls is None:
        raise NotFound("polls are not served here")
    return JSONResponse({"polls": await svc.polls.room_polls(room.id)})


def routes() -> list[BaseRoute]:
    return [Route("/rooms/{room_id}/polls", room_polls, methods=["GET"])]
