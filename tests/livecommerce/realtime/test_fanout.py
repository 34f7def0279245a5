"""A big room is written a slice at a time; nobody misses an event or sees one twice."""

from __future__ import annotations

import asyncio

import httpx

from livecommerce.events import ChatMessage, Person
from livecommerce.realtime.channels import AMBIENT_EVERY_S, AMBIENT_FRAMES_PER_S, ambient_every_s
from livecommerce.server import Server
from tests.helpers import join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory


async def test_a_room_larger_than_a_write_slice_gets_every_message_once_in_order(
    start_server: ServerFactory,
) -> None:
    server: Server = await start_server(write_slice=2)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
    viewers = [await join(server.ws_url, room["id"], max_queue=None) for _ in range(7)]
    late = None
    assert server.store is not None
    for i in range(60):
        await server.store.publish(room["id"], ChatMessage(
            type="chat.message", id=f"m{i}", user=Person(id=host.id, name=host.name), text="hi",
            at=i,
        ))  # fmt: skip
        if i == 30:  # someone joins while slices of earlier batches are still being written
            late = await join(server.ws_url, room["id"], max_queue=None)
    assert late is not None
    for viewer in viewers:
        ids = [(await viewer.expect("chat.message", wait=10))["id"] for _ in range(60)]
        assert ids == [f"m{i}" for i in range(60)]
    welcome = late.seen[0]
    got = [await late.expect("chat.message", wait=10)]
    while got[-1]["id"] != "m59":
        got.append(await late.expect("chat.message", wait=10))
    seqs = [e["seq"] for e in got]
    assert seqs == list(range(welcome["seq"] + 1, welcome["seq"] + 1 + len(got)))
    first = int(got[0]["id"][1:])
    assert [e["id"] for e in got] == [f"m{i}" for i in range(first, 60)]
    await asyncio.gather(*(v.ws.close() for v in [*viewers, late]))


def test_ambient_updates_come_less_often_in_a_big_room() -> None:
    assert ambient_every_s(0) == AMBIENT_EVERY_S
    assert ambient_every_s(1_000) == AMBIENT_EVERY_S  # a few a second in ordinary rooms
    assert ambient_every_s(10_000) == 10_000 / AMBIENT_FRAMES_PER_S
    assert ambient_every_s(10_000) * 4 < ambient_every_s(40_000) * 1.01
