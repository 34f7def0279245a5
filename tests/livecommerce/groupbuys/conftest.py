"""A live show with a creator's product and a clock the story moves, for group buys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from livecommerce.events import Event
from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import (
    ADDRESS,
    PAID,
    FakeClock,
    RoomSocket,
    User,
    add_product,
    join,
    open_room,
    reply_to,
    sign_up,
)
from tests.livecommerce.conftest import ServerFactory

DECLINED = {**PAID, "card_number": "4000000000000002"}
CAPTURE_DECLINES = {**PAID, "card_number": "4000000000000341"}


@dataclass
class Show:
    server: Server
    http: httpx.AsyncClient
    clock: FakeClock
    host: User
    room: dict[str, Any]
    product: dict[str, Any]
    studio: RoomSocket
    sockets: list[RoomSocket] = field(default_factory=list)

    async def viewer(self, name: str) -> tuple[User, RoomSocket]:
        user = await sign_up(self.http, name)
        socket = await join(self.server.ws_url, self.room["id"], user)
        self.sockets.append(socket)
        return user, socket

    async def group(self, ref: str = "gb", **fields: Any) -> dict[str, Any]:
        """Start a group buy from the studio; the group as the ack gives it."""
        answer = await self.command(ref, **fields)
        assert answer["type"] == "ack", answer
        group: dict[str, Any] = answer["group"]
        return group

    async def command(self, ref: str = "gb", **fields: Any) -> dict[str, Any]:
        command = {
            "type": "groupbuy.start", "product_id": self.product["id"], "price": 2900,
            "min_buyers": 2, "units": 3, "duration_s": 300, "ref": ref, **fields,
        }  # fmt: skip
        await self.studio.send(command)
        return await reply_to(self.studio, ref)

    async def stock(self) -> int:
        answer = await self.http.get(f"/api/v1/products/{self.product['id']}")
        return int(answer.json()["stock"])


async def join_group(
    http: httpx.AsyncClient,
    user: User,
    group_id: str,
    key: str | None,
    card: dict[str, Any] = PAID,
    address: dict[str, Any] = ADDRESS,
) -> httpx.Response:
    headers = dict(user.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await http.post(
        f"/api/v1/group-buys/{group_id}/join",
        json={"address": address, "payment": card},
        headers=headers,
    )


async def gather(socket: RoomSocket, group_id: str, *kinds: str) -> dict[str, Event]:
    """The first event of each kind about this group, in whatever order they come (room
    events and private ones travel apart)."""
    found: dict[str, Event] = {}
    async with asyncio.timeout(timeout(10)):
        while len(found) < len(kinds):
            event = await socket.next()
            if event["type"] in kinds and event.get("group_id") == group_id:
                found.setdefault(event["type"], event)
    return found


@pytest.fixture
async def show(start_server: ServerFactory) -> AsyncIterator[Show]:
    clock = FakeClock()
    server = await start_server(clock=clock)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host, sku="TEAPOT-1", title="Cast-iron teapot", stock=10)
        studio = await join(server.ws_url, room["id"], host)
        show = Show(server, http, clock, host, room, product, studio)
        yield show
        for socket in [studio, *show.sockets]:
            await socket.close()
