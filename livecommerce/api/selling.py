"""Selling over HTTP: sales, holds, checkout, orders and webhook endpoints."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from livecommerce.api.services import json_body, json_object, require_identity, services
from livecommerce.errors import BadRequest, Forbidden
from livecommerce.selling.checkout import parse_idempotency_key
from livecommerce.selling.rules import parse_idempotency_key as parse_hold_key
from livecommerce.selling.rules import parse_quantity, parse_sale_draft, sale_id_of_hold
from livecommerce.text import spreadsheet_cell
from livecommerce.webhooks.rules import parse_endpoint


async def get_sale(request: Request) -> JSONResponse:
    """
    summary: A sale with its live stock (available + held + sold == units)
    responses:
      200: {description: the sale}
      404: {description: not_found}
    """
    sale = await services(request).reservations.sale(request.path_params["sale_id"])
    return JSONResponse(sale.to_public())


async def start_sale(request: Request) -> JSONResponse:
    """
    summary: Start a flash sale in a live room (host only)
    responses:
      201: {description: the sale}
      403: {description: forbidden}
      409: {description: room_not_live}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_object(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    sale = await svc.reservations.start_sale(who, room, parse_sale_draft(body))
    return JSONResponse(sale.to_public(), status_code=201)


async def stop_sale(request: Request) -> JSONResponse:
    """
    summary: Stop a sale early (host only)
    responses:
      200: {description: the ended sale}
    """
    svc = services(request)
    who = require_identity(request)
    sale_id = request.path_params["sale_id"]
    room = await svc.rooms.room(await svc.reservations.sales.room_of(sale_id))
    await svc.reservations.stop_sale(who, room, sale_id)
    return JSONResponse((await svc.reservations.sale(sale_id)).to_public())


async def pin(request: Request) -> JSONResponse:
    """
    summary: Pin a product in a room (host only); body {product_id}
    responses:
      200: {description: "{seq}"}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_body(request)
    product_id = body.get("product_id") if isinstance(body, dict) else None
    if not isinstance(product_id, str) or not 0 < len(product_id) <= 64:
        raise BadRequest("'product_id' must be a product id")
    room = await svc.rooms.room(request.path_params["room_id"])
    return JSONResponse({"seq": await svc.reservations.pin(who, room, product_id)})


async def unpin(request: Request) -> JSONResponse:
    """
    summary: Unpin the room's product (host only)
    responses:
      200: {description: "{seq}"}
    """
    svc = services(request)
    who = require_identity(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    return JSONResponse({"seq": await svc.reservations.unpin(who, room)})


async def reserve(request: Request) -> JSONResponse:
    """
    summary: Hold units of a sale; the Idempotency-Key header makes retries return the same hold
    responses:
      201: {description: "{reservation, repeated}"}
      409: {description: "sold_out, limit_exceeded or sale_not_active"}
    """
    svc = services(request)
    who = require_identity(request)
    body = await json_body(request)
    quantity = parse_quantity(body.get("quantity", 1) if isinstance(body, dict) else None)
    key = parse_hold_key(request.headers.get("idempotency-key"))
    hold, repeated = await svc.reservations.reserve(
        who, request.path_params["sale_id"], quantity, key
    )
    return JSONResponse({"reservation": hold.to_public(), "repeated": repeated}, status_code=201)


async def get_reservation(request: Request) -> JSONResponse:
    """
    summary: One of the caller's reservations
    responses:
      200: {description: the reservation}
    """
    svc = services(request)
    who = require_identity(request)
    hold_id = request.path_params["reservation_id"]
    sale_id = sale_id_of_hold(hold_id)
    hold = await svc.reservations.sales.hold(
        await svc.reservations.sales.room_of(sale_id), sale_id, hold_id
    )
    if hold.user_id != who.id:
        raise Forbidden("that reservation is someone else's")
    return JSONResponse(hold.to_public())


async def release(request: Request) -> JSONResponse:
    """
    summary: Give a hold back
    responses:
      200: {description: the reservation, released}
    """
    svc = services(request)
    hold = await svc.reservations.release(
        require_identity(request), request.path_params["reservation_id"]
    )
    return JSONResponse(hold.to_public())


async def checkout(request: Request) -> JSONResponse:
    """
    summary: Pay for a hold; the same Idempotency-Key returns the same order
    responses:
      201: {description: "{order}"}
      402: {description: payment_declined (the hold stays)}
      409: {description: "hold_expired or hold_released"}
    """
    svc = services(request)
    who = require_identity(request)
    key = parse_idempotency_key(request.headers.get("idempotency-key"))
    body = await json_body(request)
    order, _created = await svc.checkout.checkout(
        who, request.path_params["reservation_id"], body, key
    )
    return JSONResponse({"order": order}, status_code=201)


async def my_orders(request: Request) -> JSONResponse:
    """
    summary: The caller's orders, newest first
    responses:
      200: {description: "{orders}"}
    """
    svc = services(request)
    return JSONResponse(
        {"orders": await svc.checkout.orders_of_buyer(require_identity(request).id)}
    )


async def _room_orders(request: Request) -> list[dict[str, Any]]:
    svc = services(request)
    who = require_identity(request)
    room = await svc.rooms.room(request.path_params["room_id"])
    if who.id != room.host_id and who.id not in room.moderators:
        raise Forbidden("only the room's host or a moderator sees its orders")
    return await svc.checkout.orders_of_room(room.id)


async def room_orders(request: Request) -> JSONResponse:
    """
    summary: A room's orders, newest first (host or moderator)
    responses:
      200: {description: "{orders}"}
    """
    return JSONResponse({"orders": await _room_orders(request)})


CSV_COLUMNS = (
    "id", "created_at", "state", "buyer", "title", "quantity", "unit_price", "amount",
    "currency", "name", "line1", "line2", "postal_code", "city", "country", "payment_ref",
)  # fmt: skip


_SHIPPING = ("name", "line1", "line2", "postal_code", "city", "country")


async def room_orders_csv(request: Request) -> Response:
    """
    summary: A room's orders as CSV (host or moderator)
    responses:
      200: {description: text/csv}
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for order in await _room_orders(request):
        line, ship = order["lines"][0], order["shipping"] or {}  # none until a lot is paid
        row = (
            order["id"], order["created_at"], order["state"], order["buyer"]["name"],
            line["title"], line["quantity"], line["unit_price"], order["amount"],
            order["currency"], *(ship.get(part, "") for part in _SHIPPING),
            order["payment"]["ref"] or "",
        )  # fmt: skip
        writer.writerow([spreadsheet_cell(v) for v in row])
    filename = f"orders-{request.path_params['room_id']}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def refund(request: Request) -> JSONResponse:
    """
    summary: Refund an order (the room's creator or an operator)
    responses:
      200: {description: the order, refunded}
      403: {description: "forbidden (a moderator's attempt is kept in the room's audit log)"}
    """
    svc = services(request)
    order = await svc.checkout.refund(require_identity(request), request.path_params["order_id"])
    return JSONResponse(order)


async def add_webhook(request: Request) -> JSONResponse:
    """
    summary: Add a webhook endpoint {url, events?}; the answer shows its secret once
    responses:
      201: {description: the endpoint with its secret}
    """
    svc = services(request)
    who = require_identity(request)
    endpoint_id = svc.ids.endpoint()
    endpoint = parse_endpoint(
        await json_body(request), endpoint_id=endpoint_id, now_ms=svc.now_ms()
    )
    await svc.webhooks.add_endpoint(who.id, endpoint)
    return JSONResponse(endpoint.to_public(with_secret=True), status_code=201)


async def list_webhooks(request: Request) -> JSONResponse:
    """
    summary: The caller's webhook endpoints
    responses:
      200: {description: "{endpoints}"}
    """
    svc = services(request)
    endpoints = await svc.webhooks.endpoints(require_identity(request).id)
    return JSONResponse({"endpoints": [e.to_public() for e in endpoints]})


async def remove_webhook(request: Request) -> Response:
    """
    summary: Remove a webhook endpoint
    responses:
      204: {description: removed}
    """
    svc = services(request)
    await svc.webhooks.remove_endpoint(
        require_identity(request).id, request.path_params["endpoint_id"]
    )
    return Response(status_code=204)


async def webhook_log(request: Request) -> JSONResponse:
    """
    summary: The delivery log of the caller's webhooks, newest first
    responses:
      200: {description: "{deliveries}"}
    """
    svc = services(request)
    attempts = await svc.webhooks.delivery_log(require_identity(request).id, limit=100)
    return JSONResponse({"deliveries": [a.to_public() for a in attempts]})


def routes() -> list[BaseRoute]:
    return [
        Route("/sales/{sale_id}", get_sale, methods=["GET"]),
        Route("/sales/{sale_id}/stop", stop_sale, methods=["POST"]),
        Route("/sales/{sale_id}/reservations", reserve, methods=["POST"]),
        Route("/rooms/{room_id}/sales", start_sale, methods=["POST"]),
        Route("/rooms/{room_id}/pin", pin, methods=["PUT"]),
        Route("/rooms/{room_id}/pin", unpin, methods=["DELETE"]),
        Route("/rooms/{room_id}/orders", room_orders, methods=["GET"]),
        Route("/rooms/{room_id}/orders.csv", room_orders_csv, methods=["GET"]),
        Route("/reservations/{reservation_id}", get_reservation, methods=["GET"]),
        Route("/reservations/{reservation_id}", release, methods=["DELETE"]),
        Route("/reservations/{reservation_id}/checkout", checkout, methods=["POST"]),
        Route("/orders", my_orders, methods=["GET"]),
        Route("/orders/{order_id}/refund", refund, methods=["POST"]),
        Route("/webhooks", add_webhook, methods=["POST"]),
        Route("/webhooks", list_webhooks, methods=["GET"]),
        Route("/webhooks/deliveries", webhook_log, methods=["GET"]),
        Route("/webhooks/{endpoint_id}", remove_webhook, methods=["DELETE"]),
    ]
