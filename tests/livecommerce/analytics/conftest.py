"""A show on one in-process server whose clock the story moves, and the counts made visible.

The counting flushes once a second on its own; a story flushes when it wants its figures
(``Studio.results``), and a flush waits for one already under way, so what came before is in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import FakeClock, RoomSocket, User, add_product, join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory


@dataclass
class Studio:
    server: Server
    http: httpx.AsyncClient
    clock: FakeClock
    host: User
    room: dict[str, Any]
    product: dict[str, Any]

    async def go_live(self) -> None:
        answer = await self.http.post(
            f"/api/v1/rooms/{self.room['id']}/start", headers=self.host.headers
        )
        assert answer.status_code == 200, answer.text
        self.room = answer.json()

    async def end(self) -> None:
        answer = await self.http.post(
            f"/api/v1/rooms/{self.room['id']}/end", headers=self.host.headers
        )
        assert answer.status_code == 200, answer.text

    async def viewer(self, user: User | None = None, visitor: str | None = None) -> RoomSocket:
        return await join(self.server.ws_url, self.room["id"], user, visitor=visitor)

    async def flush(self) -> None:
        await self.server.analytics.flush()

    async def results(self, who: User | None = None) -> dict[str, Any]:
        await self.flush()
        answer = await self.http.get(
            f"/api/v1/rooms/{self.room['id']}/results", headers=(who or self.host).headers
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def until_present(self, sockets: int) -> None:
        """The server has seen sockets come and go until ``sockets`` of the audience are left."""
        await until(lambda: self._present() == sockets)

    def _present(self) -> int:
        tally = self.server.analytics.tallies.get(self.room["id"])
        return tally.sockets if tally is not None else 0


async def until(check: Callable[[], bool], wait: float = 5.0) -> None:
    async with asyncio.timeout(timeout(wait)):
        while not check():  # noqa: ASYNC110 - the server's own state, no event to wait on
            await asyncio.sleep(0.01)  # polling a condition, under the deadline above


def on_a_minute(clock: FakeClock) -> None:
    """Start the story on a minute, so the show's minutes are the clock's (the one before:
    tokens made in the future are not yet valid)."""
    clock.now = (int(clock.now) // 60) * 60.0


@pytest.fixture
async def studio(start_server: ServerFactory) -> AsyncIterator[Studio]:
    clock = FakeClock()
    on_a_minute(clock)
    server = await start_server(clock=clock)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host, live=False, title="Vinyl night")
        product = await add_product(
            http, host, sku="VINYL-1", title="=Rare pressing", price=2900, stock=10
        )
        yield Studio(server, http, clock, host, room, product)
