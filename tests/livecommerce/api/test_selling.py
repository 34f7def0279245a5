"""The same selling, driven over HTTP as a merchant backend or a native app would."""

from __future__ import annotations

import httpx

from livecommerce.server import Server
from tests.helpers import add_product, join, open_room, sign_up


async def test_a_sale_run_entirely_over_http(server: Server, http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    product = await add_product(http, ada)
    watcher = await join(server.ws_url, room["id"])

    pinned = await http.put(
        f"/api/v1/rooms/{room['id']}/pin", json={"product_id": product["id"]}, headers=ada.headers
    )
    assert pinned.status_code == 200
    assert (await watcher.expect("product.pinned"))["product"]["id"] == product["id"]

    body = {"product_id": product["id"], "price": 1900, "units": 2, "per_user_limit": 2}
    started = await http.post(f"/api/v1/rooms/{room['id']}/sales", json=body, headers=ada.headers)
    assert started.status_code == 201, started.text
    sale = started.json()
    assert (sale["state"], sale["available"], sale["hold_s"]) == ("active", 2, 120)

    kari = await sign_up(http, "Kari")
    headers = {**kari.headers, "Idempotency-Key": "press-1"}
    first = await http.post(
        f"/api/v1/sales/{sale['id']}/reservations", json={"quantity": 1}, headers=headers
    )
    again = await http.post(
        f"/api/v1/sales/{sale['id']}/reservations", json={"quantity": 1}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["reservation"]["id"] == again.json()["reservation"]["id"]
    assert again.json()["repeated"] is True
    too_many = await http.post(
        f"/api/v1/sales/{sale['id']}/reservations", json={"quantity": 2}, headers=kari.headers
    )
    assert (too_many.status_code, too_many.json()["code"]) == (409, "limit_exceeded")
    guest = await http.post(f"/api/v1/sales/{sale['id']}/reservations", json={"quantity": 1})
    assert guest.status_code == 401

    mallory = await sign_up(http, "Mallory")
    peek = await http.get(
        f"/api/v1/reservations/{first.json()['reservation']['id']}", headers=mallory.headers
    )
    assert peek.status_code == 403
    stop = await http.post(f"/api/v1/sales/{sale['id']}/stop", headers=mallory.headers)
    assert stop.status_code == 403
    stopped = await http.post(f"/api/v1/sales/{sale['id']}/stop", headers=ada.headers)
    assert (stopped.json()["state"], stopped.json()["end_reason"]) == ("ended", "stopped")
    again_stop = await http.post(f"/api/v1/sales/{sale['id']}/stop", headers=ada.headers)
    assert again_stop.status_code == 409

    assert (
        await http.delete(f"/api/v1/rooms/{room['id']}/pin", headers=ada.headers)
    ).status_code == 200
    nothing = await http.delete(f"/api/v1/rooms/{room['id']}/pin", headers=ada.headers)
    assert (nothing.status_code, nothing.json()["code"]) == (409, "conflict")
    unknown = await http.get("/api/v1/sales/s_nope")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    orders = await http.get(f"/api/v1/rooms/{room['id']}/orders", headers=kari.headers)
    assert orders.status_code == 403
