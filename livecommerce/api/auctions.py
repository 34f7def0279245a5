"""Auctions over HTTP: the run sheet, bids and paying for a lot won.

The socket carries the same commands (``realtime/gateway.py``); both hand them to the
``Auctions`` service, so a rule is written once.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from livecommerce.api.services import (
    identity,
    json_body,
    json_object,
    require_identity,
    services,
)
from livecommerce.auctions.rules import bid_key, parse_auction_draft, parse_bid_amount
from livecommerce.errors import BadRequest
from livecommerce.rooms.rules import Role, Room
from livecommerce.selling.checkout import parse_idempotency_key


async def _lot_room(request: Request) -> Room:
    svc = services(request)
    return await svc.rooms.room(await svc.auctions.auctions.room_of(request.path_params["id"]))


async def queue(request: Request) -> JSONResponse:
    """
    summary: Queue a lot on a room's run sheet; with start true, start it at once (host only)
    responses:
      201: {description: the auction}
      403: {description: forbidden}
      409: {description: room_not_live}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_object(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    draft = parse_auction_draft(body)
    start = body.get("start", False)
    if not isinstance(start, bool):
        raise BadRequest("field 'start' must be true or false")
    if start:
        auction = await svc.auctions.run(who, room, draft)
    else:
        auction = await svc.auctions.queue(who, room, draft)
    return JSONResponse(svc.auctions.public(auction), status_code=201)


async def room_lots(request: Request) -> JSONResponse:
    """
    summary: A room's lots, newest first
    responses:
      200: {description: "{auctions}"}
    """
    svc = services(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    lots = await svc.auctions.room_lots(room.id)
    return JSONResponse({"auctions": await svc.auctions.shown(lots)})


async def get_auction(request: Request) -> JSONResponse:
    """
    summary: One lot, with its price and high bidder (maxes are never shown)
    responses:
      200: {description: the auction}
      404: {description: not_found}
    """
    svc = services(request)
    auction = await svc.auctions.auction(request.path_params["id"])
    return JSONResponse((await svc.auctions.shown([auction]))[0])


async def get_bids(request: Request) -> JSONResponse:
    """
    summary: A lot's bids, oldest first; the room's host and moderators also see who placed
      each and its max (for fraud review)
    responses:
      200: {description: "{bids}"}
    """
    svc = services(request)
    auction_id = request.path_params["id"]
    room_id = await svc.auctions.auctions.room_of(auction_id)
    who = identity(request, required=False)
    staff = False
    if who is not None:
        room = await svc.rooms.room(room_id)
        staff = room.role_of(who.id) in (Role.HOST, Role.MODERATOR)
        staff = staff or await svc.checkout.is_admin(who.id)
    bids = await svc.auctions.bid_log(auction_id, staff=staff)
    return JSONResponse({"bids": bids})


async def start(request: Request) -> JSONResponse:
    """
    summary: Start a queued lot (host only)
    responses:
      200: {description: the auction}
    """
    svc = services(request)
    who = require_identity(request)
    room = await _lot_room(request)
    auction = await svc.auctions.start(who, room, request.path_params["id"])
    return JSONResponse(svc.auctions.public(auction))


async def cancel(request: Request) -> JSONResponse:
    """
    summary: Cancel a queued or running lot (host only)
    responses:
      200: {description: the auction, ended with reason cancelled}
    """
    svc = services(request)
    who = require_identity(request)
    room = await _lot_room(request)
    auction = await svc.auctions.cancel(who, room, request.path_params["id"])
    return JSONResponse(svc.auctions.public(auction))


async def bid(request: Request) -> JSONResponse:
    """
    summary: Bid on a lot; amount is your max; the same Idempotency-Key gives the same answer
    responses:
      201: {description: "{auction_id, amount, max, leading}"}
      409: {description: "bid_too_low (with next_bid) or auction_not_active"}
    """
    svc = services(request)
    who = require_identity(request)
    key = bid_key(request.headers.get("idempotency-key"))
    body = await json_object(request)
    amount = parse_bid_amount(body.get("amount"))
    auction_id = request.path_params["id"]
    answer = await svc.auctions.bid(who, auction_id, amount, key)
    return JSONResponse(
        {
            "auction_id": auction_id,
            "amount": answer.amount,
            "max": answer.max,
            "leading": answer.leading,
        },
        status_code=201,
    )


async def void(request: Request) -> JSONResponse:
    """
    summary: Void one person's bids on a lot (host or moderator; audited)
    responses:
      200: {description: the auction}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_object(request)
    user_id = body.get("user_id")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 64:
        raise BadRequest("field 'user_id' must be an account id")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise BadRequest("field 'reason' must be at most 200 characters")
    room = await _lot_room(request)
    auction = await svc.auctions.void(who, room, request.path_params["id"], user_id, reason)
    return JSONResponse(svc.auctions.public(auction))


async def second_chance(request: Request) -> JSONResponse:
    """
    summary: Offer a lapsed lot to the runner-up at their max (host only)
    responses:
      200: {description: "{order}"}
    """
    svc = services(request)
    who = require_identity(request)
    room = await _lot_room(request)
    order = await svc.auctions.second_chance(who, room, request.path_params["id"])
    return JSONResponse({"order": order})


async def pay(request: Request) -> JSONResponse:
    """
    summary: Pay for a lot won; the same Idempotency-Key returns the same order
    responses:
      200: {description: "{order}"}
      402: {description: payment_declined (the order stays payable)}
      409: {description: order_lapsed}
    """
    svc = services(request)
    who = require_identity(request)
    key = parse_idempotency_key(request.headers.get("idempotency-key"))
    body = await json_body(request)
    order, _ = await svc.auctions.orders.pay(who, request.path_params["order_id"], body, key)
    return JSONResponse({"order": order})


def routes() -> list[BaseRoute]:
    return [
        Route("/rooms/{room_id}/auctions", queue, methods=["POST"]),
        Route("/rooms/{room_id}/auctions", room_lots, methods=["GET"]),
        Route("/auctions/{id}", get_auction, methods=["GET"]),
        Route("/auctions/{id}/bids", get_bids, methods=["GET"]),
        Route("/auctions/{id}/bids", bid, methods=["POST"]),
        Route("/auctions/{id}/start", start, methods=["POST"]),
        Route("/auctions/{id}/cancel", cancel, methods=["POST"]),
        Route("/auctions/{id}/void", void, methods=["POST"]),
        Route("/auctions/{id}/second-chance", second_chance, methods=["POST"]),
        Route("/orders/{order_id}/pay", pay, methods=["POST"]),
    ]
