"""A live show with a creator's product, a clock the story moves, and a way to run giveaways."""

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

    async def start(self, ref: str = "give", **fields: Any) -> dict[str, Any]:
        """The studio starts a giveaway; the ack's giveaway, or the error it got."""
        command = {
            "type": "giveaway.start", "product_id": self.product["id"], "kind": "standard",
            "duration_s": 30, "ref": ref, **fields,
        }  # fmt: skip
        await self.studio.send(command)
        answer = await reply_to(self.studio, ref)
        if answer["type"] != "ack":
            return answer
        giveaway: dict[str, Any] = answer["giveaway"]
        return giveaway

    async def stock(self) -> int:
        answer = await self.http.get(f"/api/v1/products/{self.product['id']}")
        return int(answer.json()["stock"])

    async def read(self, giveaway_id: str) -> dict[str, Any]:
        answer = await self.http.get(f"/api/v1/giveaways/{giveaway_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found


async def enter(
    socket: RoomSocket, giveaway_id: str, ref: str = "enter", **fields: Any
) -> dict[str, Any]:
    await socket.send({"type": "giveaway.enter", "giveaway_id": giveaway_id, "ref": ref, **fields})
    return await reply_to(socket, ref)


@pytest.fixture
async def show(start_server: ServerFactory) -> AsyncIterator[Show]:
    clock = FakeClock()
    server = await start_server(clock=clock, giveaway_claim_s=600)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        product = await add_product(http, host, sku="YARN-1", title="Hand-dyed yarn", stock=3)
        studio = await join(server.ws_url, room["id"], host)
        yield Show(server, http, clock, host, room, product, studio)
