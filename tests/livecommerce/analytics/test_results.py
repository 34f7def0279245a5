"""A creator's show, counted: who watched, who talked, what sold, and what the results say."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx
import pytest

from livecommerce.store.embedded import EmbeddedValkey
from tests.helpers import (
    ADDRESS,
    PAID,
    RoomSocket,
    User,
    appoint,
    join,
    open_room,
    pay,
    reply_to,
    say,
    sign_up,
    start_sale,
)
from tests.livecommerce.analytics.conftest import Studio
from tests.livecommerce.conftest import ServerFactory


async def reserve(socket: RoomSocket, sale_id: str, ref: str) -> dict[str, Any]:
    await socket.send({"type": "reserve", "sale_id": sale_id, "key": ref + "-key", "ref": ref})
    answer = await reply_to(socket, ref)
    assert answer["type"] == "reservation", answer
    hold: dict[str, Any] = answer["reservation"]
    return hold


async def settled(socket: RoomSocket) -> None:
    """Everything the socket sent before has been handled (replies come in order)."""
    await socket.send({"type": "ping", "ref": "settled"})
    assert (await reply_to(socket, "settled"))["type"] == "pong"


async def click(socket: RoomSocket, product_id: str, times: int = 1) -> None:
    for _ in range(times):
        await socket.send({"type": "track", "kind": "product_click", "product_id": product_id})
    await settled(socket)


async def test_a_two_minute_show_adds_up_to_exactly_what_happened_in_it(studio: Studio) -> None:
    kari, lars = await sign_up(studio.http, "Kari"), await sign_up(studio.http, "Lars")
    host_socket = await studio.viewer(studio.host)  # the studio's own socket is not audience
    guest = await studio.viewer(visitor="guest-visitor-1")
    kari_phone = await studio.viewer(kari)
    studio.clock.advance(60)  # waiting for the show: not counted
    await studio.flush()

    await studio.go_live()
    t0 = studio.room["started_at"]
    await studio.flush()  # the two waiting count from Go live
    studio.clock.advance(60)
    lars_socket = await studio.viewer(lars)
    kari_laptop = await studio.viewer(kari)  # the same person: one viewer, one more view
    await studio.flush()

    await host_socket.send({"type": "pin", "product_id": studio.product["id"], "ref": "pin"})
    assert (await reply_to(host_socket, "pin"))["type"] == "ack"
    await guest.expect("product.pinned")
    await click(kari_phone, studio.product["id"])
    await click(lars_socket, studio.product["id"], times=2)
    await click(guest, "p_never_shown_here")  # not counted: the room never showed it
    await click(host_socket, studio.product["id"])  # the host's own: not counted
    question = await say(kari_phone, "Is it the first pressing?", "c1")
    await say(kari_laptop, "I'll take it", "c2")
    await say(lars_socket, "Me too", "c3")
    for _ in range(3):
        await guest.send({"type": "react", "kind": "heart"})
    await settled(guest)
    report = {"type": "report", "reason": "spam", "message_id": question["id"], "ref": "rep"}
    await lars_socket.send(report)
    assert (await reply_to(lars_socket, "rep"))["type"] == "ack"

    sale = await start_sale(host_socket, studio.product["id"], price=2900, units=3)
    kari_hold = await reserve(kari_phone, sale["id"], "k")
    lars_hold = await reserve(lars_socket, sale["id"], "l")
    assert (await reserve(kari_phone, sale["id"], "k"))["id"] == kari_hold["id"]  # a retry
    paid = await pay(studio.http, kari, kari_hold["id"], PAID, "pay-kari-1")
    assert paid.status_code == 201, paid.text
    again = await pay(studio.http, kari, kari_hold["id"], PAID, "pay-kari-1")
    assert again.json()["order"]["id"] == paid.json()["order"]["id"]  # counted once
    lars_order = (await pay(studio.http, lars, lars_hold["id"], PAID, "pay-lars-1")).json()
    for _ in range(2):  # a refund pressed twice is one refund
        refund = await studio.http.post(
            f"/api/v1/orders/{lars_order['order']['id']}/refund", headers=studio.host.headers
        )
        assert refund.status_code == 200, refund.text

    studio.clock.advance(30)
    await guest.close()
    await studio.until_present(3)
    studio.clock.advance(30)
    await studio.end()
    studio.clock.advance(5)  # the viewers linger after the end: not counted

    found = await studio.results()
    s = found["summary"]
    assert found["status"] == "final"
    assert found["duration_s"] == 120
    assert (s["unique_viewers"], s["views"], s["peak_viewers"]) == (3, 4, 4)
    # guest 90 s, Kari 120 s (two tabs count once), Lars 60 s
    assert s["watch_time_s"] == 270
    assert s["average_watch_s"] == 90
    assert (s["chat_lines"], s["chatters"], s["reactions"], s["reports"]) == (3, 2, 3, 1)
    assert (s["impressions"], s["clicks"], s["holds"]) == (4, 3, 2)
    assert (s["orders"], s["units"], s["buyers"], s["first_time_buyers"]) == (2, 2, 2, 2)
    assert (s["gmv"], s["refunds"], s["refunded"], s["net_revenue"]) == (5800, 1, 2900, 2900)
    assert (s["ctr"], s["click_to_order"], s["conversion"]) == (0.75, 0.6667, 0.6667)
    assert (s["aov"], s["gpm"]) == (2900, 1_450_000)

    assert [(m["minute"], m["viewers"]) for m in found["timeline"]] == [(0, 2), (1, 4)]
    assert [m["gmv"] for m in found["timeline"]] == [0, 5800]
    assert [m["chat_lines"] for m in found["timeline"]] == [0, 3]
    assert [(m["kind"], m["minute"]) for m in found["markers"]] == [("pin", 1), ("sale", 1)]
    (vinyl,) = found["products"]
    assert vinyl["product_id"] == studio.product["id"]
    assert vinyl["title"] == "=Rare pressing"
    assert (vinyl["impressions"], vinyl["clicks"], vinyl["holds"], vinyl["orders"]) == (4, 3, 2, 2)
    assert (vinyl["gmv"], vinyl["refunds"], vinyl["refunded"]) == (5800, 1, 2900)
    assert found["room"]["started_at"] == t0

    # Kari leaves the platform; the show's figures stay as they were.
    gone = await studio.http.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse battery"}, headers=kari.headers
    )
    assert gone.status_code == 204, gone.text
    assert (await studio.results())["summary"] == s


async def test_the_tables_download_as_csv_a_spreadsheet_shows_as_text(studio: Studio) -> None:
    host_socket = await studio.viewer(studio.host)
    await studio.go_live()
    await host_socket.send({"type": "pin", "product_id": studio.product["id"], "ref": "pin"})
    await reply_to(host_socket, "pin")
    base = f"/api/v1/rooms/{studio.room['id']}/results.csv"
    products = await studio.http.get(base, headers=studio.host.headers)
    assert products.status_code == 200
    assert products.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(products.text)))
    assert [(r["product_id"], r["title"]) for r in rows] == [
        (studio.product["id"], "'=Rare pressing")
    ]
    timeline = await studio.http.get(base + "?table=timeline", headers=studio.host.headers)
    assert next(iter(csv.reader(io.StringIO(timeline.text))))[:3] == ["minute", "at", "viewers"]
    wrong = await studio.http.get(base + "?table=buyers", headers=studio.host.headers)
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "bad_request"


async def test_only_the_host_and_operators_see_results_and_only_once_the_show_went_live(
    studio: Studio,
) -> None:
    url = f"/api/v1/rooms/{studio.room['id']}/results"
    early = await studio.http.get(url, headers=studio.host.headers)
    assert early.status_code == 409
    assert early.json()["code"] == "conflict"
    await studio.go_live()
    nosy = await sign_up(studio.http, "Nosy")
    assert (await studio.http.get(url, headers=nosy.headers)).status_code == 403
    assert (await studio.http.get(url)).status_code == 401
    missing = await studio.http.get("/api/v1/rooms/nope/results", headers=studio.host.headers)
    assert missing.status_code == 404
    assert (await studio.results())["status"] == "live"
    operator = await sign_up(studio.http, "Ops")
    assert studio.server.account_store is not None
    await studio.server.account_store.set_admin(operator.id, True)
    assert (await studio.results(operator))["room"]["id"] == studio.room["id"]
    moderator = await sign_up(studio.http, "Mod")
    await appoint(studio.http, studio.host, studio.room["id"], moderator)
    assert (await studio.http.get(url, headers=moderator.headers)).status_code == 403


async def test_the_next_show_compares_with_the_last_and_a_returning_buyer_is_not_new(
    studio: Studio,
) -> None:
    kari = await sign_up(studio.http, "Kari")
    await buy_in_a_show(studio, kari, "first")
    first = await studio.results()
    assert first["summary"]["first_time_buyers"] == 1
    assert first["previous"] == []

    answer = await studio.http.post(
        "/api/v1/rooms", json={"title": "Vinyl night II", "currency": "EUR"},
        headers=studio.host.headers,
    )  # fmt: skip
    studio.room = answer.json()
    studio.clock.advance(600)
    await buy_in_a_show(studio, kari, "second")
    second = await studio.results()
    assert second["summary"]["buyers"] == 1
    assert second["summary"]["first_time_buyers"] == 0
    (before,) = second["previous"]
    assert before["room_id"] == first["room"]["id"]
    assert before["gmv"] == 2900
    assert before["orders"] == 1
    assert before["unique_viewers"] == 1


async def buy_in_a_show(studio: Studio, buyer: User, key: str) -> None:
    host_socket = await studio.viewer(studio.host)
    await studio.go_live()
    socket = await studio.viewer(buyer)
    sale = await start_sale(host_socket, studio.product["id"], price=2900, units=1)
    hold = await reserve(socket, sale["id"], key)
    assert (await pay(studio.http, buyer, hold["id"], PAID, f"pay-{key}-1")).status_code == 201
    studio.clock.advance(60)
    await studio.end()
    await socket.close()
    await host_socket.close()


async def test_a_hostile_page_cannot_inflate_clicks_or_send_junk(studio: Studio) -> None:
    host_socket = await studio.viewer(studio.host)
    await studio.go_live()
    await host_socket.send({"type": "pin", "product_id": studio.product["id"], "ref": "pin"})
    await reply_to(host_socket, "pin")
    bot = await studio.viewer(visitor="bot-visitor-1")
    await click(bot, studio.product["id"], times=60)  # a burst of ten, then two a second
    for bad, ref in (
        ({"kind": "buy_now", "product_id": studio.product["id"]}, "b1"),
        ({"kind": "product_click"}, "b2"),
        ({"kind": "product_click", "product_id": "p" * 65}, "b3"),
        ({"kind": "product_click", "product_id": 7}, "b4"),
    ):
        await bot.send({"type": "track", "ref": ref, **bad})
        answer = await reply_to(bot, ref)
        assert (answer["type"], answer["code"]) == ("error", "bad_request"), answer
    found = await studio.results()
    assert found["summary"]["clicks"] == 10


async def test_prometheus_shows_what_this_process_counted_with_no_room_label(
    studio: Studio,
) -> None:
    kari = await sign_up(studio.http, "Kari")
    await studio.go_live()
    socket = await studio.viewer(kari)
    await say(socket, "Hello", "c1")
    await studio.flush()
    text = (await studio.http.get("/metrics")).text
    lines = [line for line in text.splitlines() if line.startswith("livecommerce_show_counts")]
    chat = [line for line in lines if 'figure="chat_lines"' in line and "_total" in line]
    assert chat, lines
    assert float(chat[0].rsplit(" ", 1)[1]) >= 1
    assert not any("room" in line for line in lines)
    assert 'livecommerce_analytics_flushes_total{outcome="live"}' in text


async def test_a_lot_paid_after_the_show_counts_at_the_hammers_minute(studio: Studio) -> None:
    ola = await sign_up(studio.http, "Ola")
    host_socket = await studio.viewer(studio.host)
    await studio.go_live()
    ola_socket = await studio.viewer(ola)
    start = {"type": "auction.start", "product_id": studio.product["id"], "starting_bid": 1000,
             "duration_s": 30, "ref": "lot"}  # fmt: skip
    await host_socket.send(start)
    lot = (await reply_to(host_socket, "lot"))["auction"]
    await ola_socket.send(
        {"type": "bid", "auction_id": lot["id"], "amount": 1000, "key": "o1", "ref": "o1"}
    )
    assert (await reply_to(ola_socket, "o1"))["type"] == "bid.accepted"
    studio.clock.advance(31)
    order = (await ola_socket.expect("auction.won"))["order"]
    studio.clock.advance(60)
    await studio.end()  # the show ends before Ola pays
    unpaid = await studio.results()
    assert (unpaid["summary"]["orders"], unpaid["summary"]["gmv"]) == (0, 0)

    studio.clock.advance(20)
    paid = await studio.http.post(
        f"/api/v1/orders/{order['id']}/pay",
        json={"address": ADDRESS, "payment": PAID},
        headers={**ola.headers, "Idempotency-Key": "pay-lot-1"},
    )
    assert paid.status_code == 200, paid.text
    found = await studio.results()
    assert (found["summary"]["orders"], found["summary"]["gmv"]) == (1, 1000)
    assert found["summary"]["buyers"] == 1
    assert [m["gmv"] for m in found["timeline"]] == [1000, 0]  # the hammer fell in minute 0
    assert [m["kind"] for m in found["markers"]] == ["auction"]
    (vinyl,) = found["products"]
    assert (vinyl["orders"], vinyl["gmv"]) == (1, 1000)


async def test_a_viewer_who_came_and_went_within_a_second_is_in_the_peak(studio: Studio) -> None:
    await studio.go_live()
    await studio.flush()
    blink = await studio.viewer(visitor="blink-visitor")
    studio.clock.advance(0.5)
    await blink.close()
    await studio.until_present(0)
    studio.clock.advance(0.4)
    await studio.end()
    s = (await studio.results())["summary"]
    assert (s["unique_viewers"], s["views"], s["peak_viewers"]) == (1, 1, 1)


async def test_a_server_stopping_while_the_store_is_down_loses_its_last_second_not_its_stop(
    start_server: ServerFactory, private_valkey: EmbeddedValkey, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(redis_url=private_valkey.url)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        kari = await sign_up(http, "Kari")
    socket = await join(server.ws_url, room["id"], kari)
    await say(socket, "Still there?", "c1")  # counted, waiting for the next flush
    await asyncio.to_thread(private_valkey.stop)
    await server.stop()  # the last flush cannot reach the store: said, not raised
    assert "show counts are lost" in caplog.text
