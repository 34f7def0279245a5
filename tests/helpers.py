"""Helpers that read as people: a user who signs up, a viewer who joins a room, a host who
starts a sale, a buyer who pays, a moderator who uses a tool."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livecommerce.events import Event
from livecommerce.server import Server
from tests.conftest import timeout

_names = itertools.count(1)


@dataclass
class User:
    id: str
    username: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(http: httpx.AsyncClient, name: str | None = None) -> User:
    username = f"{name or 'user'}{next(_names)}".lower().replace(" ", "")
    password = "correct horse battery"
    created = await http.post(
        "/api/v1/accounts",
        json={"username": username, "password": password, "display_name": name or username},
    )
    assert created.status_code == 201, created.text
    session = await http.post("/api/v1/sessions", json={"username": username, "password": password})
    assert session.status_code == 200, session.text
    body = session.json()
    return User(body["user"]["id"], username, body["user"]["display_name"], body["token"])


def minted(label: str, secret: str) -> User:
    """A signed-in person with a token made as ``Authenticator.issue`` makes them, for
    servers started with ``--secret secret``: thousands without a sign-up each."""
    now = int(time.time())
    user_id = f"u_{label}"
    claims = {"iss": "livecommerce", "sub": user_id, "name": label, "iat": now, "exp": now + 3600}
    return User(user_id, label, label, jwt.encode(claims, secret, algorithm="HS256"))


async def open_room(
    http: httpx.AsyncClient, host: User, *, live: bool = True, **fields: Any
) -> Event:
    body = {"title": "Autumn knitwear", "currency": "EUR", "locale": "en", **fields}
    created = await http.post("/api/v1/rooms", json=body, headers=host.headers)
    assert created.status_code == 201, created.text
    room: Event = created.json()
    if live:
        started = await http.post(f"/api/v1/rooms/{room['id']}/start", headers=host.headers)
        assert started.status_code == 200, started.text
        room = started.json()
    return room


@dataclass
class RoomSocket:
    """A viewer's socket: flattens batches and waits for what the story expects."""

    ws: ClientConnection
    protocol: str
    inbox: list[Event] = field(default_factory=list)
    seen: list[Event] = field(default_factory=list)
    # Events that overtook the last reply: a room event may reach us before the
    # answer to the command that caused it, and a later expect must still see it.
    overtaken: list[Event] = field(default_factory=list)

    @property
    def last_seq(self) -> int:
        seqs = [e["seq"] for e in self.seen if "seq" in e]
        return max(seqs) if seqs else 0

    async def send(self, message: Event) -> None:
        if self.protocol == "livecommerce.json":
            await self.ws.send(json.dumps(message))
        else:
            await self.ws.send(msgpack.packb(message))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def next(self, wait: float = 5.0) -> Event:
        async with asyncio.timeout(timeout(wait)):
            return await self._next()

    async def _next(self) -> Event:
        while not self.inbox:
            raw = await self.ws.recv()
            decoded = json.loads(raw) if isinstance(raw, str) else msgpack.unpackb(raw)
            self.inbox.extend(decoded if isinstance(decoded, list) else [decoded])
        event = self.inbox.pop(0)
        self.seen.append(event)
        return event

    async def expect(
        self, kind: str, where: Callable[[Event], bool] = lambda e: True, wait: float = 5.0
    ) -> Event:
        """The next event of this kind that matches, skipping others."""
        for i, event in enumerate(self.overtaken):
            if event["type"] == kind and where(event):
                del self.overtaken[: i + 1]
                return event
        self.overtaken.clear()
        async with asyncio.timeout(timeout(wait)):
            while True:
                event = await self._next()
                if event["type"] == kind and where(event):
                    return event

    async def closed(self, wait: float = 5.0) -> int:
        """Read until the server closes; the close code it sent."""
        async with asyncio.timeout(timeout(wait)):
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await self.ws.recv()
        received = self.ws.protocol.close_rcvd
        assert received is not None, "the server did not send a close frame"
        return received.code

    async def close(self) -> None:
        await self.ws.close()


async def join(
    ws_url: str,
    room_id: str,
    user: User | None = None,
    *,
    protocol: str = "livecommerce.json",
    since: int | None = None,
    epoch: str | None = None,
    welcome: bool = True,
    visitor: str | None = None,
    **connect_kwargs: Any,
) -> RoomSocket:
    query = []
    if visitor is not None:
        query.append(f"visitor={visitor}")
    if user is not None:
        query.append(f"token={user.token}")
    if since is not None:
        query.append(f"since={since}")
    if epoch is not None:
        query.append(f"epoch={epoch}")
    url = f"{ws_url}/ws/rooms/{room_id}" + ("?" + "&".join(query) if query else "")
    ws = await connect(url, subprotocols=[protocol], open_timeout=timeout(5), **connect_kwargs)  # type: ignore[list-item]
    socket = RoomSocket(ws, protocol)
    if welcome:
        first = await socket.next()
        assert first["type"] == "welcome", first
    return socket


async def reply_to(socket: RoomSocket, ref: str) -> Event:
    """The server's answer to the command sent with ``ref``; events before it wait for expect."""
    socket.overtaken.clear()
    while True:
        event = await socket.next()
        if event.get("ref") == ref:
            return event
        socket.overtaken.append(event)


# Selling ---------------------------------------------------------------------------------

ADDRESS = {
    "name": "Kari Nordmann",
    "line1": "Storgata 1",
    "postal_code": "0155",
    "city": "Oslo",
    "country": "no",
}
PAID = {"card_number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}


class FakeClock:
    """Server time the test moves forward, instead of waiting for it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def now_ms(self) -> int:
        return int(self.now * 1000)


async def add_product(http: httpx.AsyncClient, host: User, **fields: Any) -> Event:
    body = {"sku": "KNIT-1", "title": "Wool jumper", "price": 4900, "currency": "EUR", "stock": 50}
    answer = await http.post("/api/v1/products", json={**body, **fields}, headers=host.headers)
    assert answer.status_code == 201, answer.text
    product: Event = answer.json()
    return product


async def start_sale(host: RoomSocket, product_id: str, **fields: Any) -> Event:
    command = {
        "type": "sale.start", "product_id": product_id, "price": 2900, "units": 3,
        "per_user_limit": 1, "duration_s": 60, "hold_s": 30, "ref": "start", **fields,
    }  # fmt: skip
    await host.send(command)
    answer = await reply_to(host, "start")
    assert answer["type"] == "ack", answer
    sale: Event = answer["sale"]
    return sale


async def hold_for(server: Server, room: Event, sale: Event, buyer: User) -> Event:
    socket = await join(server.ws_url, room["id"], buyer)
    await socket.send({"type": "reserve", "sale_id": sale["id"], "quantity": 1, "ref": "r"})
    answer = await reply_to(socket, "r")
    assert answer["type"] == "reservation", answer
    reservation: Event = answer["reservation"]
    return reservation


async def pay(
    http: httpx.AsyncClient, buyer: User, hold_id: str, card: dict[str, Any], key: str
) -> httpx.Response:
    return await http.post(
        f"/api/v1/reservations/{hold_id}/checkout",
        json={"address": ADDRESS, "payment": card},
        headers={**buyer.headers, "Idempotency-Key": key},
    )


# Chat and moderation ---------------------------------------------------------------------


async def say(socket: RoomSocket, text: str, ref: str) -> Event:
    await socket.send({"type": "chat.send", "text": text, "ref": ref})
    return await reply_to(socket, ref)


async def tool(socket: RoomSocket, ref: str, **command: Any) -> Event:
    await socket.send({**command, "ref": ref})
    return await reply_to(socket, ref)


async def appoint(http: httpx.AsyncClient, host: User, room_id: str, user: User) -> None:
    answer = await http.put(f"/api/v1/rooms/{room_id}/moderators/{user.id}", headers=host.headers)
    assert answer.status_code == 200, answer.text
    assert user.id in answer.json()["moderators"]


async def hosted_room(
    http: httpx.AsyncClient, host: str, *others: str, moderators: tuple[str, ...] = ()
) -> tuple[Event, list[User]]:
    """``host`` opens a live room, ``others`` sign up, and those named in ``moderators`` are
    appointed; the room and everyone, host first."""
    people = [await sign_up(http, name) for name in (host, *others)]
    room = await open_room(http, people[0])
    for person in people[1:]:
        if person.name in moderators:
            await appoint(http, people[0], room["id"], person)
    return room, people
