"""WHIP over HTTP (RFC 9725): the host POSTs an SDP offer, gets 201 with the answer and a
session URL, and DELETEs that URL to stop. The room follows: publishing to a scheduled room
takes it live.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecommerce import metrics
from livecommerce.api.services import read_body, require_identity, services
from livecommerce.errors import Forbidden, NotFound, RoomNotLive
from livecommerce.rooms import RoomState
from streams.ingest import Publications
from streams.offers import CONTENT_TYPE, SDP_MAX_BYTES, Role, read_offer


def publications(request: Request) -> Publications:
    found: Publications = request.app.state.publications
    return found


async def whip_publish(request: Request) -> Response:
    """
    summary: Publish the room's stream (WHIP, RFC 9725; the host's token)
    requestBody: {content: {application/sdp: {schema: {type: string}}}}
    responses:
      201: {description: the SDP answer; Location is the session to DELETE}
      400: {description: bad_sdp or unsupported_codec}
      401: {description: unauthorized}
      403: {description: forbidden (not the room's host)}
      404: {description: not_found}
      409: {description: room_not_live (the show has ended)}
    """
    svc = services(request)
    who = require_identity(request)
    room = await svc.store.room(request.path_params["room_id"])
    room.require_host(who.id)
    if room.state is RoomState.ENDED:
        raise RoomNotLive("the show has ended")
    body = await read_body(request, SDP_MAX_BYTES)
    offer = read_offer(body, request.headers.get("content-type"), Role.PUBLISH)
    publication, answer = await publications(request).publish(room.id, who.id, offer)
    if room.state is RoomState.SCHEDULED:
        now = svc.now_ms()
        event = {"type": "room.state", "state": "live", "at": now}
        await svc.store.transition_room(room, RoomState.LIVE, now, event)
        metrics.EVENTS_PUBLISHED.labels("room.state").inc()
    location = f"/whip/sessions/{publication.id}"
    return Response(
        answer,
        status_code=201,
        media_type=CONTENT_TYPE,
        headers={"Location": location, "ETag": f'"{publication.id}"'},
    )


async def whip_stop(request: Request) -> Response:
    """
    summary: Stop publishing (the session's host only)
    responses:
      200: {description: stopped}
      401: {description: unauthorized}
      403: {description: forbidden (someone else's session)}
      404: {description: not_found}
    """
    who = require_identity(request)
    media = publications(request)
    publication = media.by_id.get(request.path_params["session_id"])
    if publication is None:
        raise NotFound("no such publishing session")
    if publication.host_id != who.id:
        raise Forbidden("that session is someone else's")
    await media.end(publication, "deleted")
    return Response(status_code=200)


def routes() -> list[Route]:
    return [
        Route("/whip/rooms/{room_id}", whip_publish, methods=["POST"]),
        Route("/whip/sessions/{session_id}", whip_stop, methods=["DELETE"]),
    ]
