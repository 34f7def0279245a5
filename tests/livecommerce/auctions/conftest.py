"""A live show with a creator's product, a clock the story moves, and helpers to run lots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from livecommerce.server import Server
from tests.helpers import (
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


@dataclass
class Show:
    server: Server
    http: httpx.AsyncClient
    clock: FakeClock
    host: User
    room: dict[str, Any]
    product: dict[str, Any]
    studio: RoomSocket

    async def viewer(self, name: str) -> tuple[User, RoomSocket]:
        user = await sign_up(self.http, name)
        return user, await join(self.server.ws_url, self.room["id"], user)

    async def lot(self, ref: str = "lot", **fields: Any) -> dict[str, Any]:
        """Queue and start a lot from the studio; the auction as the ack gives it."""
        command = {
            "type": "auction.start", "product_id": self.product["id"], "starting_bid": 1000,
            "duration_s": 30, "ref": ref, **fields,
        }  # fmt: skip
        await self.studio.send(command)
        answer = await reply_to(self.studio, ref)
        assert answer["type"] == "ack", answer
        auction: dict[str, Any] = answer["auction"]
        return auction

    async def stock(self) -> int:
        answer = await self.http.get(f"/api/v1/products/{self.product['id']}")
        return int(answer.json()["stock"])


async def bid(socket: RoomSocket, auction_id: str, amount: Any, key: str) -> dict[str, Any]:
    await socket.send(
        {"type": "bid", "auction_id": auction_id, "amount": amount, "key": key, "ref": key}
    )
    return await reply_to(socket, key)


@pytest.fixture
async def show(start_server: ServerFactory) -> AsyncIterator[Show]:
    clock = FakeClock()
    server = await start_server(clock=clock, auction_pay_s=60, limit_bid="0")
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host, sku="VINYL-1", title="First pressing", stock=3)
        studio = await join(server.ws_url, room["id"], host)
        yield Show(server, http, clock, host, room, product, studio)
