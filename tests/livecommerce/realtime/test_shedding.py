"""Load shedding on a real server: a hard-pressed process turns new viewers away with a retry
hint, keeps everyone it admitted, puts buyers before chat and paces ambient updates harder.

Pressure is injected through the model's own input (a lag sample, as the loop monitor takes
one) rather than by burning CPU; the server's own monitor is stopped, so only the story's
samples count, and the hold is long, so the level stays while the story runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from livecommerce.runtime.pressure import Level
from livecommerce.server import Server
from tests.helpers import (
    User,
    add_product,
    join,
    minted,
    open_room,
    reply_to,
    say,
    sign_up,
    start_sale,
)
from tests.livecommerce.conftest import ServerFactory

SECRET = "test-secret-that-is-long-enough-for-hs256"
HELD = {"shedding": True, "shed_hold_s": 600.0}


async def held_server(start_server: ServerFactory, **overrides: Any) -> Server:
    """A server whose pressure only the story sets: its own loop monitor is stopped, so a
    busy test machine's real lag can neither raise the level nor let it fall."""
    server = await start_server(**{**HELD, **overrides})
    await server.shedding.stop()
    server.shedding.warm_up(0.0)  # past start-up: every sample counts
    return server


async def hosted_room(server: Server) -> tuple[User, dict[str, Any]]:
    """Ada, and the room she opened on ``server``."""
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        return host, await open_room(http, host)


def press(server: Server, lag_s: float) -> Level:
    """Lag that lasts: three samples of it, as the monitor would take them."""
    for _ in range(2):
        server.shedding.observe(lag_s)
    return server.shedding.observe(lag_s)


async def test_a_shedding_process_turns_new_viewers_away_and_keeps_those_it_admitted(
    start_server: ServerFactory,
) -> None:
    server = await held_server(start_server)
    host, room = await hosted_room(server)
    on_stage = await join(server.ws_url, room["id"], host)
    watching = [await join(server.ws_url, room["id"]) for _ in range(3)]
    assert press(server, 1.0) is Level.SHEDDING

    for newcomer in (None, minted("late", SECRET)):
        refused = await join(server.ws_url, room["id"], newcomer, welcome=False)
        error = await refused.next()
        assert error["code"] == "overloaded", error
        assert 1.0 <= error["retry_after"] <= 30.0
        assert await refused.closed() == 4003

    back = await join(server.ws_url, room["id"], host)  # the host is never shut out
    await say(on_stage, "Still here, everyone?", "hi")
    for viewer in watching:
        line = await viewer.expect("chat.message")
        assert line["text"] == "Still here, everyone?"
    await back.close()


async def test_a_queue_of_joins_turns_the_next_one_away_before_the_next_lag_sample(
    start_server: ServerFactory,
) -> None:
    server = await held_server(start_server, shed_pending_joins=50)
    _, room = await hosted_room(server)
    server.shedding.pending = lambda: 50  # as the gateway counts them: accepted, not welcomed
    refused = await join(server.ws_url, room["id"], welcome=False)
    assert (await refused.next())["code"] == "overloaded"
    assert await refused.closed() == 4003
    assert server.gateway is not None
    gateway = server.gateway
    server.shedding.pending = lambda: gateway._count - len(gateway.sessions)
    viewer = await join(server.ws_url, room["id"])
    await viewer.close()


async def test_with_shedding_off_a_lagging_process_still_admits(
    start_server: ServerFactory,
) -> None:
    server = await start_server(**{**HELD, "shedding": False})
    _, room = await hosted_room(server)
    assert press(server, 1.0) is Level.NORMAL
    viewer = await join(server.ws_url, room["id"])
    await viewer.close()


async def test_the_lag_of_start_up_work_turns_no_first_visitor_away(
    start_server: ServerFactory,
) -> None:
    server = await held_server(start_server)
    _, room = await hosted_room(server)
    server.shedding.warm_up(600.0)  # as the demo does once its show is seeded
    assert press(server, 1.0) is Level.NORMAL
    first = await join(server.ws_url, room["id"])

    server.shedding.warm_up(0.0)  # warmed up: the same lag is load now
    assert press(server, 1.0) is Level.SHEDDING
    refused = await join(server.ws_url, room["id"], welcome=False)
    assert (await refused.next())["code"] == "overloaded"
    await first.close()


async def test_the_pages_that_start_a_viewing_session_answer_503_with_retry_after(
    start_server: ServerFactory,
) -> None:
    server = await held_server(start_server)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        press(server, 1.0)
        for answer in (
            await http.get(f"/api/v1/rooms/{room['id']}"),
            await http.post(
                f"/whep/rooms/{room['id']}",
                content=b"v=0\r\n",
                headers={"Content-Type": "application/sdp"},
            ),
        ):
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "overloaded"
            assert int(answer.headers["retry-after"]) >= 1
        own = await http.get(f"/api/v1/rooms/{room['id']}", headers=host.headers)
        assert own.status_code == 200, own.text
        shed = (await http.get("/metrics")).text
    assert 'livecommerce_shed_total{what="room"}' in shed
    assert "livecommerce_pressure_level 2.0" in shed


async def _sale_room(server: Server, units: int = 20) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host, stock=units)
    on_stage = await join(server.ws_url, room["id"], host)
    sale = await start_sale(on_stage, product["id"], units=units, duration_s=600)
    return room, on_stage, sale


async def test_a_buyers_reserve_goes_through_while_chat_waits_its_turn(
    start_server: ServerFactory,
) -> None:
    server = await held_server(start_server, shed_chat_per_s=1.0)
    room, _, sale = await _sale_room(server)
    chatter = await join(server.ws_url, room["id"], minted("chatter", SECRET))
    buyer = await join(server.ws_url, room["id"], minted("buyer", SECRET))

    assert press(server, 0.05) is Level.BUSY  # chat metered process-wide: one line a second
    assert (await say(chatter, "Is it wool?", "c1"))["type"] == "ack"
    metered = await say(chatter, "Hello?", "c2")
    assert metered["code"] == "overloaded"
    assert metered["retry_after"] >= 1.0

    assert press(server, 1.0) is Level.SHEDDING  # no chat at all
    await chatter.send({"type": "chat.send", "text": "Anyone?", "ref": "c3"})
    await buyer.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    refused = await reply_to(chatter, "c3")
    assert refused["code"] == "overloaded"
    assert refused["retry_after"] >= 1.0
    hold = await reply_to(buyer, "r")
    assert hold["type"] == "reservation", hold
    await chatter.close()
    await buyer.close()


async def test_ambient_updates_slow_down_under_pressure_and_the_last_value_arrives(
    start_server: ServerFactory,
) -> None:
    server = await held_server(start_server)
    room, _, sale = await _sale_room(server)
    watcher = await join(server.ws_url, room["id"])
    buyers = [await join(server.ws_url, room["id"], minted(f"b{i}", SECRET)) for i in range(4)]
    press(server, 1.0)
    loop = asyncio.get_running_loop()

    async def reserve(buyer: Any, ref: str) -> None:
        await buyer.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": ref})
        assert (await reply_to(buyer, ref))["type"] == "reservation"

    await reserve(buyers[0], "r0")
    first = await watcher.expect("sale.stock", lambda e: e["held"] == 1)
    seen_first = loop.time()
    for i, buyer in enumerate(buyers[1:], 1):
        await reserve(buyer, f"r{i}")
    last = await watcher.expect("sale.stock", wait=10)
    paced = loop.time() - seen_first
    assert first["available"] == 19
    assert (last["held"], last["available"]) == (4, 16)  # three changes, one frame, the latest
    assert paced >= 0.9  # four times the quarter second a calm room waits


async def test_hearts_tapped_under_pressure_all_arrive_summed(
    start_server: ServerFactory,
) -> None:
    server = await held_server(start_server)
    _, room = await hosted_room(server)
    watcher = await join(server.ws_url, room["id"])
    tapper = await join(server.ws_url, room["id"])
    press(server, 1.0)
    for _ in range(12):
        await tapper.send({"type": "react", "kind": "heart"})
    hearts, messages = 0, 0
    while hearts < 12:
        event = await watcher.expect("reactions")
        hearts += event["counts"].get("heart", 0)
        messages += 1
    assert hearts == 12
    assert messages <= 2  # one flush in four while shedding: the taps wait and add up
