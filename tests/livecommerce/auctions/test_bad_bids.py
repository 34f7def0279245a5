"""Bids that must not count: malformed, misdirected, from the wrong person, or retried.

Each gets a stable error code (on the socket as an ``error`` event with the command's ``ref``,
over HTTP as problem+json), the lot is left as it was, and the bidder's socket stays open.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import (
    RoomSocket,
    User,
    add_product,
    appoint,
    join,
    open_room,
    reply_to,
    sign_up,
)
from tests.livecommerce.auctions.conftest import Show, bid

KEY = "k1"


async def lot_state(show: Show, auction_id: str) -> tuple[int, int]:
    """(bids, current_bid): what a refused bid must leave untouched."""
    lot = (await show.http.get(f"/api/v1/auctions/{auction_id}")).json()
    return lot["bids"], lot["current_bid"]


async def still_connected(socket: RoomSocket) -> None:
    await socket.send({"type": "ping", "ref": "still there"})
    assert (await socket.expect("pong"))["ref"] == "still there"


async def refused(socket: RoomSocket, command: dict[str, Any]) -> dict[str, Any]:
    """Send a bid command (with ``ref``); the error it gets."""
    await socket.send({"type": "bid", "ref": "bad", **command})
    answer = await socket.expect("error", lambda e: e.get("ref") == "bad")
    return answer


# Over the socket ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [10.5, 10.0, -1000, 0, 10**13, "1000", True, False],
    ids=["fraction", "whole-float", "negative", "zero", "over-the-cap", "string", "true", "false"],
)
async def test_an_amount_that_is_not_a_whole_number_of_minor_units_is_a_bad_request(
    show: Show, amount: object
) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot()
    error = await refused(kari, {"auction_id": lot["id"], "amount": amount, "key": KEY})
    assert error["code"] == "bad_request"
    assert "amount" in error["message"]
    assert await lot_state(show, lot["id"]) == (0, 0)
    await still_connected(kari)


async def test_a_float_amount_is_refused_in_messagepack_too(show: Show) -> None:
    kari = await sign_up(show.http, "Kari")
    socket = await join(show.server.ws_url, show.room["id"], kari, protocol="livecommerce.msgpack")
    lot = await show.lot()
    error = await refused(socket, {"auction_id": lot["id"], "amount": 1000.0, "key": KEY})
    assert error["code"] == "bad_request"
    assert await lot_state(show, lot["id"]) == (0, 0)


async def test_a_bid_without_an_amount_is_a_bad_request(show: Show) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot()
    error = await refused(kari, {"auction_id": lot["id"], "key": KEY})
    assert (error["code"], "amount" in error["message"]) == ("bad_request", True)
    await still_connected(kari)


@pytest.mark.parametrize(
    "key",
    [None, "", "k" * 129, "a|b", 42],
    ids=["missing", "empty", "overlong", "separator", "number"],
)
async def test_a_bid_key_that_is_missing_overlong_or_holds_the_separator_is_a_bad_request(
    show: Show, key: object
) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot()
    command: dict[str, Any] = {"auction_id": lot["id"], "amount": 1000}
    if key is not None:
        command["key"] = key
    error = await refused(kari, command)
    assert (error["code"], "key" in error["message"]) == ("bad_request", True)
    assert await lot_state(show, lot["id"]) == (0, 0)
    await still_connected(kari)


async def test_a_key_of_128_characters_is_taken(show: Show) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot()
    await kari.send(
        {"type": "bid", "auction_id": lot["id"], "amount": 1000, "key": "k" * 128, "ref": "long"}
    )
    assert (await reply_to(kari, "long"))["type"] == "bid.accepted"


async def test_a_bid_on_an_unknown_lot_is_not_found(show: Show) -> None:
    _, kari = await show.viewer("Kari")
    error = await refused(kari, {"auction_id": "a_nosuchlot", "amount": 1000, "key": KEY})
    assert error["code"] == "not_found"
    await still_connected(kari)


async def test_a_bid_sent_in_one_room_for_another_rooms_lot_is_not_found_and_not_taken(
    show: Show,
) -> None:
    bea = await sign_up(show.http, "Bea")
    other_room = await open_room(show.http, bea, title="Bea's records")
    product = await add_product(show.http, bea, sku="LP-2", stock=1)
    created = await show.http.post(
        f"/api/v1/rooms/{other_room['id']}/auctions",
        json={"product_id": product["id"], "starting_bid": 500, "duration_s": 30, "start": True},
        headers=bea.headers,
    )
    assert created.status_code == 201, created.text
    elsewhere = created.json()

    _, kari = await show.viewer("Kari")  # in Ada's room
    error = await refused(kari, {"auction_id": elsewhere["id"], "amount": 500, "key": KEY})
    assert error["code"] == "not_found"
    assert await lot_state(show, elsewhere["id"]) == (0, 0)
    await still_connected(kari)


async def test_a_guest_cannot_bid(show: Show) -> None:
    lot = await show.lot()
    guest = await join(show.server.ws_url, show.room["id"])
    error = await refused(guest, {"auction_id": lot["id"], "amount": 1000, "key": KEY})
    assert error["code"] == "unauthorized"
    assert await lot_state(show, lot["id"]) == (0, 0)
    await still_connected(guest)  # still welcome to watch


async def test_the_host_cannot_bid_on_their_own_lot(show: Show) -> None:
    lot = await show.lot()
    error = await refused(show.studio, {"auction_id": lot["id"], "amount": 5000, "key": KEY})
    assert error["code"] == "forbidden"
    assert await lot_state(show, lot["id"]) == (0, 0)


async def test_a_moderator_of_the_room_cannot_bid(show: Show) -> None:
    mia = await sign_up(show.http, "Mia")
    await appoint(show.http, show.host, show.room["id"], mia)
    socket = await join(show.server.ws_url, show.room["id"], mia)
    lot = await show.lot()
    error = await refused(socket, {"auction_id": lot["id"], "amount": 5000, "key": KEY})
    assert error["code"] == "forbidden"
    assert await lot_state(show, lot["id"]) == (0, 0)


async def test_a_bid_under_the_next_bid_says_what_the_next_bid_is(show: Show) -> None:
    _, kari = await show.viewer("Kari")
    _, ola = await show.viewer("Ola")
    lot = await show.lot(starting_bid=1000)
    under_start = await bid(kari, lot["id"], 999, "k0")
    assert (under_start["code"], under_start["next_bid"]) == ("bid_too_low", 1000)

    assert (await bid(kari, lot["id"], 1000, "k1"))["type"] == "bid.accepted"
    same = await bid(ola, lot["id"], 1000, "o1")
    assert (same["type"], same["code"], same["next_bid"]) == ("error", "bid_too_low", 1100)
    not_higher = await bid(kari, lot["id"], 1000, "k2")  # the leader at their own max
    assert (not_higher["code"], not_higher["next_bid"]) == ("bid_too_low", 1100)

    one_tap = await bid(ola, lot["id"], same["next_bid"], "o2")  # the figure the error gave
    assert (one_tap["type"], one_tap["amount"], one_tap["leading"]) == ("bid.accepted", 1100, True)
    assert await lot_state(show, lot["id"]) == (2, 1100)


async def test_a_retried_key_gets_the_first_answer_and_counts_once_even_after_the_end(
    show: Show,
) -> None:
    _, kari = await show.viewer("Kari")
    _, ola = await show.viewer("Ola")
    lot = await show.lot(starting_bid=1000)
    first = await bid(kari, lot["id"], 1000, "k1")
    assert first["type"] == "bid.accepted"
    again = await bid(kari, lot["id"], 9000, "k1")  # another amount under the key: refused
    assert again["code"] == "idempotency_key_reused"
    assert await bid(kari, lot["id"], 1000, "k1") == first
    await bid(ola, lot["id"], 3000, "o1")
    assert await lot_state(show, lot["id"]) == (2, 1100)
    assert await bid(kari, lot["id"], 1000, "k1") == first  # the answer it got, not today's

    show.clock.advance(31)
    await kari.expect("auction.ended")
    assert await bid(kari, lot["id"], 1000, "k1") == first
    late = await bid(kari, lot["id"], 5000, "k9")  # a new key after the hammer
    assert late["code"] == "auction_not_active"
    assert await lot_state(show, lot["id"]) == (2, 1100)


# Over HTTP --------------------------------------------------------------------------------


async def post_bid(
    show: Show, auction_id: str, user: User | None, body: object, key: str | None = KEY
) -> httpx.Response:
    headers = dict(user.headers) if user else {}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await show.http.post(f"/api/v1/auctions/{auction_id}/bids", json=body, headers=headers)


def problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["code"] == code
    return body


async def test_over_http_bad_amounts_and_keys_are_bad_requests(show: Show) -> None:
    kari = await sign_up(show.http, "Kari")
    lot = await show.lot()
    for amount in (10.5, 10.0, -1, 0, 10**13, "1000", True, None):
        answer = await post_bid(show, lot["id"], kari, {"amount": amount})
        problem(answer, 400, "bad_request")
    problem(await post_bid(show, lot["id"], kari, {}), 400, "bad_request")
    problem(await post_bid(show, lot["id"], kari, [1000]), 400, "bad_request")
    for key in (None, "k" * 129, "a|b"):
        answer = await post_bid(show, lot["id"], kari, {"amount": 1000}, key=key)
        problem(answer, 400, "bad_request")
    assert await lot_state(show, lot["id"]) == (0, 0)


async def test_over_http_who_may_bid_and_on_what(show: Show) -> None:
    kari = await sign_up(show.http, "Kari")
    mia = await sign_up(show.http, "Mia")
    await appoint(show.http, show.host, show.room["id"], mia)
    lot = await show.lot()
    problem(await post_bid(show, lot["id"], None, {"amount": 1000}), 401, "unauthorized")
    problem(await post_bid(show, lot["id"], show.host, {"amount": 1000}), 403, "forbidden")
    problem(await post_bid(show, lot["id"], mia, {"amount": 1000}), 403, "forbidden")
    problem(await post_bid(show, "a_nosuchlot", kari, {"amount": 1000}), 404, "not_found")
    assert await lot_state(show, lot["id"]) == (0, 0)


async def test_over_http_too_low_carries_next_bid_and_a_retry_gets_the_first_answer(
    show: Show,
) -> None:
    kari = await sign_up(show.http, "Kari")
    ola = await sign_up(show.http, "Ola")
    lot = await show.lot(starting_bid=1000)
    first = await post_bid(show, lot["id"], kari, {"amount": 1000}, key="k1")
    assert first.status_code == 201, first.text
    assert first.json() == {"auction_id": lot["id"], "amount": 1000, "max": 1000, "leading": True}
    low = problem(await post_bid(show, lot["id"], ola, {"amount": 1050}), 409, "bid_too_low")
    assert low["next_bid"] == 1100

    show.clock.advance(31)
    await show.studio.expect("auction.ended")
    again = await post_bid(show, lot["id"], kari, {"amount": 1000}, key="k1")
    assert (again.status_code, again.json()) == (201, first.json())
    late = await post_bid(show, lot["id"], ola, {"amount": 5000}, key="o2")
    problem(late, 409, "auction_not_active")
    assert await lot_state(show, lot["id"]) == (1, 1000)


async def test_a_key_sent_again_with_another_amount_is_refused_not_answered(show: Show) -> None:
    _, kari = await show.viewer("Kari")
    lot = await show.lot()
    first = await bid(kari, lot["id"], 1000, "same-key")
    assert first["type"] == "bid.accepted"
    other = await bid(kari, lot["id"], 5000, "same-key")
    assert other["code"] == "idempotency_key_reused"
    again = await bid(kari, lot["id"], 1000, "same-key")
    assert (again["type"], again["max"]) == ("bid.accepted", 1000)
