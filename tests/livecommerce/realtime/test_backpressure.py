"""A phone on a bad network must not hold up a room of thousands."""

from __future__ import annotations

import asyncio

import httpx

from livecommerce.events import ChatMessage, Person
from livecommerce.runtime import metrics
from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory


async def test_a_viewer_that_stops_reading_is_cut_loose_and_can_resume(
    start_server: ServerFactory,
) -> None:
    server: Server = await start_server(max_buffer_bytes=64 * 1024)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
    healthy = await join(server.ws_url, room["id"], max_size=None, max_queue=None)
    stalled = await join(server.ws_url, room["id"], max_size=None)
    epoch = stalled.seen[0]["epoch"]
    stalled.ws.transport.pause_reading()  # the phone went into a tunnel
    dropped_before = metrics.SLOW_CONSUMERS._value.get()

    assert server.store is not None
    big = "x" * 40_000
    for i in range(300):  # 12 MB: more than any kernel buffer between the two
        await server.store.publish(room["id"], ChatMessage(
            type="chat.message", id=f"m{i}", user=Person(id="u_bot", name="Bot"), text=big, at=i,
        ))  # fmt: skip

    for i in range(300):
        event = await healthy.expect("chat.message", wait=30)
        assert event["id"] == f"m{i}"
    assert metrics.SLOW_CONSUMERS._value.get() == dropped_before + 1

    stalled.ws.transport.resume_reading()
    assert await stalled.closed(wait=10) == 4001

    # It comes back where it stopped and catches up.
    last = stalled.last_seq
    back = await join(
        server.ws_url, room["id"], since=last, epoch=epoch, welcome=False, max_size=None
    )
    event = await back.next(wait=10)
    assert event["seq"] == last + 1
    await asyncio.wait_for(back.close(), timeout(5))
