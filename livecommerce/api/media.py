"""WHIP and WHEP over HTTP, and the replays they leave.

The host POSTs an SDP offer to WHIP (RFC 9725), gets 201 with the answer and a session URL,
and DELETEs that URL to stop; viewers do the same on WHEP. The room follows: publishing to a
scheduled room takes it live. A WHEP offer that reaches a process without the room's
publication is redirected (307, which WHEP players follow) to the process that has it.
"""

from __future__ import annotations

import re

from aiortc import RTCIceServer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livecommerce.api.services import (
    client_address,
    identity,
    read_body,
    require_identity,
    services,
)
from livecommerce.errors import BadRequest, Forbidden, NotFound, RoomNotLive
from livecommerce.media.ingest import LEAVING
from livecommerce.media.offers import CONTENT_TYPE, SDP_MAX_BYTES, BadSdp, Role, read_offer
from livecommerce.media.plane import Media
from livecommerce.rooms.rules import RoomState

_RECORDING_NAME = re.compile(r"[A-Za-z0-9_-]{1,120}\.(webm|mp4)")
_MEDIA_TYPES = {"webm": "video/webm", "mp4": "video/mp4"}


_CORS = {
    # Bearer tokens, never cookies: any page may call these, as RFC 9725 expects of WHIP.
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match",
    "Access-Control-Expose-Headers": "Location, ETag, Link, Retry-After",
    "Access-Control-Max-Age": "86400",
}


class MediaCors:
    """CORS on every WHIP and WHEP answer, refusals included.

    A page on one process's origin reaches another's when WHEP redirects it there (307), and
    browsers then read the answer, its ``Location`` and any problem only with these headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/whip/", "/whep/")):
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(_CORS)
            await send(message)

        await self.app(scope, receive, with_cors)


def media(request: Request) -> Media:
    found: Media = request.app.state.media
    return found


def _link_header(servers: list[RTCIceServer]) -> dict[str, str]:
    """ICE servers for the client, as RFC 9725 section 4.6 says (OBS reads these)."""
    links = []
    for server in servers:
        for url in [server.urls] if isinstance(server.urls, str) else server.urls:
            link = f'<{url}>; rel="ice-server"'
            if server.username:
                link += f'; username="{server.username}"; credential="{server.credential}"'
                link += '; credential-type="password"'
            links.append(link)
    return {"Link": ", ".join(links)} if links else {}


def _sdp_response(answer: str, location: str, servers: list[RTCIceServer]) -> Response:
    return Response(
        answer,
        status_code=201,
        media_type=CONTENT_TYPE,
        headers={
            "Location": location,
            "ETag": f'"{location.rsplit("/", 1)[-1]}"',
            **_link_header(servers),
        },
    )


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
      429: {description: rate_limited (too many offers from this account)}
    """
    svc = services(request)
    who = require_identity(request)
    room = await svc.rooms.for_publishing(who, request.path_params["room_id"])
    await svc.limiter.check(svc.settings.limit("publish"), who.id)
    body = await read_body(request, SDP_MAX_BYTES)
    offer = read_offer(body, request.headers.get("content-type"), Role.PUBLISH)
    if offer.video is None:
        raise BadSdp("a live stream needs video: the offer has no video section")
    plane = media(request)
    publication, answer = await plane.publications.publish(room.id, who.id, offer)
    if room.state is RoomState.SCHEDULED:
        await svc.rooms.transition(who, room, RoomState.LIVE)
    location = f"/whip/sessions/{publication.id}"
    return _sdp_response(answer, location, plane.publications.ice_servers)


async def whip_stop(request: Request) -> Response:
    """
    summary: Stop publishing (the session's host only)
    description: >
      With ?reason=leaving (the studio's page is going away: a reload, a closed tab) the
      stream is not over: viewers see it reconnecting until the host publishes again or the
      grace period runs out. Without it the stream stops at once.
    parameters:
      - {name: reason, in: query, required: false, schema: {type: string, enum: [leaving]}}
    responses:
      200: {description: stopped}
      400: {description: bad_request (an unknown reason)}
      401: {description: unauthorized}
      403: {description: forbidden (someone else's session)}
      404: {description: not_found}
    """
    who = require_identity(request)
    reason = request.query_params.get("reason")
    if reason not in (None, LEAVING):
        raise BadRequest(f"reason must be {LEAVING!r} or absent")
    publications = media(request).publications
    publication = publications.by_id.get(request.path_params["session_id"])
    if publication is None:
        raise NotFound("no such publishing session")
    if publication.host_id != who.id:
        raise Forbidden("that session is someone else's")
    await publications.end(publication, reason or "deleted")
    return Response(status_code=200)


async def whep_play(request: Request) -> Response:
    """
    summary: Watch the room's stream (WHEP; a token is optional)
    requestBody: {content: {application/sdp: {schema: {type: string}}}}
    responses:
      201: {description: the SDP answer; Location is the session to DELETE}
      307: {description: another process has the stream (with --no-cascade); POST it there}
      400: {description: bad_sdp, or unsupported_codec (the offer lacks the stream's codec)}
      404: {description: not_found}
      409: {description: room_not_live (nothing is being published now)}
      429: {description: rate_limited (too many offers from this address)}
      503: {description: unavailable (at its viewer limit), or overloaded (Retry-After)}
    """
    svc = services(request)
    who = identity(request, required=False)
    # Each offer costs a peer connection and UDP sockets: metered before any of that.
    await svc.limiter.check(svc.settings.limit("watch"), client_address(request))
    room_id = request.path_params["room_id"]
    room = await svc.rooms.room(room_id)
    svc.admit_viewer("watch", who, room.host_id)
    if room.state is RoomState.ENDED:
        raise RoomNotLive(f"the show has ended; its replay is at /api/v1/rooms/{room_id}/replay")
    plane = media(request)
    body = await read_body(request, SDP_MAX_BYTES)
    offer = read_offer(body, request.headers.get("content-type"), Role.PLAY)
    if plane.edges is not None:
        await plane.edges.settled(room_id)
    if plane.hubs.live(room_id) is None:
        origin, internal = "", ""
        if plane.store is not None:
            fresh_ms = int(svc.settings.stream_claim_s * 1000)
            origin, internal = await plane.store.stream_origin(room_id, svc.now_ms(), fresh_ms)
        if not origin or origin == plane.origin:
            raise RoomNotLive("the room is not streaming now")
        if plane.edges is None:
            return RedirectResponse(f"{origin}/whep/rooms/{room_id}", status_code=307)
        await plane.edges.pull(room_id, internal)
    try:
        playback, answer = await plane.playbacks.play(room_id, offer, who.id if who else None)
    except BaseException:
        if plane.edges is not None:  # a pull nobody watches closes after a while
            plane.edges.viewer_left(room_id, plane.playbacks.count(room_id))
        raise
    return _sdp_response(answer, f"/whep/sessions/{playback.id}", plane.playbacks.ice_servers)


async def whep_stop(request: Request) -> Response:
    """
    summary: Stop watching (the session URL is the key to it)
    responses:
      200: {description: stopped}
      403: {description: forbidden (a signed-in viewer's session, and another person's token)}
      404: {description: not_found}
    """
    playbacks = media(request).playbacks
    playback = playbacks.by_id.get(request.path_params["session_id"])
    if playback is None:
        raise NotFound("no such viewing session")
    who = identity(request, required=False)
    if who is not None and playback.viewer_id not in (None, who.id):
        raise Forbidden("that session is someone else's")
    await playbacks.end(playback, "deleted")
    return Response(status_code=200)


async def preflight(request: Request) -> Response:
    """WHIP and WHEP clients ask what the endpoint takes (RFC 9725 section 4.1)."""
    return Response(status_code=204, headers={"Accept-Post": CONTENT_TYPE})


async def session_preflight(request: Request) -> Response:
    """A page on another origin asks before it DELETEs a session (MediaCors answers)."""
    return Response(status_code=204)


async def replay(request: Request) -> JSONResponse:
    """
    summary: An ended (or running) show's recordings and its pins, to replay it shoppable
    responses:
      200: {description: "recordings (url, media_type, started_at, ended_at), pins (at, product)"}
      404: {description: not_found}
    """
    svc = services(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    store = media(request).store
    recordings = await store.recordings(room.id) if store is not None else []
    pins = await store.pin_history(room.id) if store is not None else []
    return JSONResponse({"room": room.id, "recordings": recordings, "pins": pins})


async def recording_file(request: Request) -> Response:
    """A recording's file; FileResponse answers Range requests, so players can seek."""
    name = request.path_params["name"]
    directory = media(request).recordings
    match = _RECORDING_NAME.fullmatch(name)
    if directory is None or match is None or not (directory / name).is_file():
        raise NotFound("no such recording")
    return FileResponse(directory / name, media_type=_MEDIA_TYPES[match.group(1)])


def routes() -> list[Route]:
    return [
        Route("/whip/rooms/{room_id}", whip_publish, methods=["POST"]),
        Route("/whip/rooms/{room_id}", preflight, methods=["OPTIONS"], include_in_schema=False),
        Route("/whip/sessions/{session_id}", whip_stop, methods=["DELETE"]),
        Route(
            "/whip/sessions/{session_id}",
            session_preflight,
            methods=["OPTIONS"],
            include_in_schema=False,
        ),
        Route("/whep/rooms/{room_id}", whep_play, methods=["POST"]),
        Route("/whep/rooms/{room_id}", preflight, methods=["OPTIONS"], include_in_schema=False),
        Route("/whep/sessions/{session_id}", whep_stop, methods=["DELETE"]),
        Route(
            "/whep/sessions/{session_id}",
            session_preflight,
            methods=["OPTIONS"],
            include_in_schema=False,
        ),
        Route(
            "/recordings/{name}", recording_file, methods=["GET", "HEAD"], include_in_schema=False
        ),
    ]


def api_routes() -> list[Route]:
    return [Route("/rooms/{room_id}/replay", replay, methods=["GET"])]
