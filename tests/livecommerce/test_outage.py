"""Redis goes away in the middle of a show, then comes back."""

from __future__ import annotations

import asyncio

import httpx

from livecommerce.store.embedded import EmbeddedValkey
from tests.conftest import timeout
from tests.helpers import join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory


async def test_the_room_survives_redis_stopping_and_recovers_by_itself(
    start_server: ServerFactory, private_valkey: EmbeddedValkey
) -> None:
    server = await start_server(redis_url=private_valkey.url)
    http = httpx.AsyncClient(base_url=server.http_url, timeout=10)
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    chatter = await join(server.ws_url, room["id"], host)
    viewer = await join(server.ws_url, room["id"])
    await chatter.send({"type": "chat.send", "text": "before"})
    await viewer.expect("chat.message")

    await asyncio.to_thread(private_valkey.stop)

    # Sockets hear about it; nobody is disconnected.
    notice = await viewer.expect("unavailable", wait=10)
    assert notice["retry_after"] > 0
    await chatter.send({"type": "chat.send", "text": "during", "ref": "d"})
    refused = await chatter.expect("error")
    assert (refused["code"], refused["ref"]) == ("unavailable", "d")
    assert refused["retry_after"] > 0

    # HTTP answers 503 with Retry-After, in problem+json.
    answer = await http.get(f"/api/v1/rooms/{room['id']}")
    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "unavailable"
    ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert "retry-after" in ready.headers
    assert (await http.get("/healthz")).status_code == 200

    await asyncio.to_thread(private_valkey.start)  # same port, same append-only file

    # The server recovers without help: chat flows again to the viewer that stayed.
    async with asyncio.timeout(timeout(15)):
        # Probing /readyz as an orchestrator does.
        while (await http.get("/readyz")).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await chatter.send({"type": "chat.send", "text": "after", "ref": "a"})
    reply = await chatter.expect("ack", wait=10)
    after = await viewer.expect("chat.message", lambda e: e["text"] == "after", wait=10)
    assert after["seq"] == reply["seq"]
    answer = await http.get(f"/api/v1/rooms/{room['id']}")
    assert answer.status_code == 200
    assert answer.json()["state"] == "live"  # nothing was lost across the restart
    await http.aclose()


async def test_joining_while_redis_is_down_is_refused_with_a_reconnect_code(
    start_server: ServerFactory, private_valkey: EmbeddedValkey
) -> None:
    server = await start_server(redis_url=private_valkey.url)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
    await asyncio.to_thread(private_valkey.stop)
    socket = await join(server.ws_url, room["id"], welcome=False)
    error = await socket.next(wait=10)
    assert error["code"] == "unavailable"
    assert await socket.closed() == 4002
