"""One room, two server processes: viewers on either see the same events in order.

Every story runs twice: the processes share one Valkey, then a 3-primary, 3-replica cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.conftest import SharedStore
from tests.helpers import RoomSocket, join, open_room, sign_up
from tests.processes import ServerProcess, start_process

pytestmark = pytest.mark.multiprocess

SENDERS_PER_PROCESS = 3
MESSAGES_PER_SENDER = 40
VIEWERS_PER_PROCESS = 10


@pytest.fixture
async def two_servers(
    shared_store: SharedStore, tmp_path: Path
) -> AsyncIterator[list[ServerProcess]]:
    fast_chat = [*shared_store.args, "--chat-rate", "1000", "--chat-burst", "1000"]
    servers = await asyncio.gather(
        start_process(tmp_path / "a", *fast_chat, "--secret", "shared-secret-of-the-cluster-32b"),
        start_process(tmp_path / "b", *fast_chat, "--secret", "shared-secret-of-the-cluster-32b"),
    )
    yield list(servers)
    codes = await asyncio.gather(*(s.stop() for s in servers))
    assert codes == [0, 0]


async def test_viewers_on_two_processes_see_one_order_without_gaps(
    two_servers: list[ServerProcess],
) -> None:
    a, b = two_servers
    async with httpx.AsyncClient(base_url=a.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
        senders = [await sign_up(http, f"Sender{i}") for i in range(2 * SENDERS_PER_PROCESS)]

    viewers = [
        await join(server.ws_url, room["id"], max_queue=None)
        for server in (a, b)
        for _ in range(VIEWERS_PER_PROCESS)
    ]
    start_seq = viewers[0].seen[0]["seq"]
    sockets = [
        await join((a, b)[i % 2].ws_url, room["id"], sender, max_queue=None)
        for i, sender in enumerate(senders)
    ]

    async def chat(socket: RoomSocket, who: int) -> None:
        for n in range(MESSAGES_PER_SENDER):
            await socket.send({"type": "chat.send", "text": f"{who}:{n}"})

    await asyncio.gather(*(chat(s, i) for i, s in enumerate(sockets)))
    total = len(senders) * MESSAGES_PER_SENDER

    async def collect(viewer: RoomSocket) -> list[dict[str, object]]:
        got: list[dict[str, object]] = []
        while len(got) < total:
            got.append(await viewer.expect("chat.message", wait=30))
        return got

    received = await asyncio.gather(*(collect(v) for v in viewers))
    reference = [(m["seq"], m["id"]) for m in received[0]]
    assert [seq for seq, _ in reference] == list(range(start_seq + 1, start_seq + total + 1))
    for got in received[1:]:
        assert [(m["seq"], m["id"]) for m in got] == reference
    # Each sender's own lines keep the order they were sent in.
    for who in range(len(senders)):
        mine = [m["text"] for m in received[-1] if str(m["text"]).startswith(f"{who}:")]
        assert mine == [f"{who}:{n}" for n in range(MESSAGES_PER_SENDER)]


async def test_signing_out_on_one_process_ends_the_token_on_the_other_and_its_socket(
    two_servers: list[ServerProcess],
) -> None:
    a, b = two_servers
    async with (
        httpx.AsyncClient(base_url=a.http_url) as on_a,
        httpx.AsyncClient(base_url=b.http_url) as on_b,
    ):
        ada = await sign_up(on_a, "Ada")
        room = await open_room(on_a, ada)
        again = {"username": ada.username, "password": "correct horse battery"}
        phone = replace(
            ada, token=(await on_a.post("/api/v1/sessions", json=again)).json()["token"]
        )
        watching = await join(b.ws_url, room["id"], ada)
        on_phone = await join(b.ws_url, room["id"], phone)
        assert (await on_b.get("/api/v1/me", headers=ada.headers)).status_code == 200

        signed_out = await on_a.delete("/api/v1/sessions/current", headers=ada.headers)
        assert signed_out.status_code == 204
        assert (await watching.expect("error"))["code"] == "unauthorized"
        assert await watching.closed() == 4401  # do not reconnect with this token
        for http in (on_a, on_b):
            refused = await http.get("/api/v1/me", headers=ada.headers)
            assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
        rejoined = await join(b.ws_url, room["id"], ada, welcome=False)
        assert (await rejoined.next())["code"] == "unauthorized"
        assert await rejoined.closed() == 4401

        assert (await on_b.get("/api/v1/me", headers=phone.headers)).status_code == 200
        await on_phone.send({"type": "ping", "ref": "still here"})
        assert (await on_phone.expect("pong"))["ref"] == "still here"  # her phone stays in
        await on_phone.close()


async def test_the_viewer_count_adds_up_across_processes(two_servers: list[ServerProcess]) -> None:
    a, b = two_servers
    async with httpx.AsyncClient(base_url=a.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
    on_a = [await join(a.ws_url, room["id"]) for _ in range(2)]
    on_b = [await join(b.ws_url, room["id"]) for _ in range(3)]
    await on_a[0].expect("viewers", lambda e: e["count"] == 5, wait=10)
    await on_b[0].expect("viewers", lambda e: e["count"] == 5, wait=10)
    for socket in on_b:
        await socket.close()
    await on_a[0].expect("viewers", lambda e: e["count"] == 2, wait=10)


async def test_a_viewer_resumes_on_the_other_process(two_servers: list[ServerProcess]) -> None:
    a, b = two_servers
    async with httpx.AsyncClient(base_url=a.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
    chatter = await join(a.ws_url, room["id"], host)
    viewer = await join(a.ws_url, room["id"])
    epoch = viewer.seen[0]["epoch"]
    await chatter.send({"type": "chat.send", "text": "one"})
    last = (await viewer.expect("chat.message"))["seq"]
    await viewer.close()
    await chatter.send({"type": "chat.send", "text": "two"})
    await chatter.expect("chat.message", lambda e: e["text"] == "two")
    moved = await join(b.ws_url, room["id"], since=last, epoch=epoch, welcome=False)
    event = await moved.next()
    assert (event["type"], event["seq"], event["text"]) == ("chat.message", last + 1, "two")
