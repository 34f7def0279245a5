"""A viewer whose connection drops comes back and gets exactly what it missed."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import connect

from livecommerce.server import Server
from tests.helpers import RoomSocket, join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory


@pytest.fixture
async def server(start_server: ServerFactory) -> Server:
    """Chat limits out of the way: these stories are about order, not floods."""
    return await start_server(chat_rate=1000.0, chat_burst=1000)


async def test_a_dropped_viewer_resumes_with_exactly_what_it_missed(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    chatter = await join(server.ws_url, room["id"], host)
    viewer = await join(server.ws_url, room["id"])
    epoch = viewer.seen[0]["epoch"]

    await chatter.send({"type": "chat.send", "text": "before the drop"})
    seen = await viewer.expect("chat.message")
    await viewer.close()

    for text in ("missed one", "missed two"):
        await chatter.send({"type": "chat.send", "text": text})
        await chatter.expect("chat.message", lambda e, t=text: e["text"] == t)  # type: ignore[misc]

    back = await join(server.ws_url, room["id"], since=seen["seq"], epoch=epoch, welcome=False)
    first, second = await back.next(), await back.next()
    assert [first["type"], second["type"]] == ["chat.message", "chat.message"]
    assert [first["text"], second["text"]] == ["missed one", "missed two"]
    assert [first["seq"], second["seq"]] == [seen["seq"] + 1, seen["seq"] + 2]

    await chatter.send({"type": "chat.send", "text": "live again"})
    live = await back.expect("chat.message")
    assert (live["seq"], live["text"]) == (seen["seq"] + 3, "live again")


async def test_resume_from_the_present_sends_nothing_old(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    viewer = await join(server.ws_url, room["id"])
    welcome = viewer.seen[0]
    await viewer.close()
    back = await join(
        server.ws_url, room["id"], since=welcome["seq"], epoch=welcome["epoch"], welcome=False
    )
    chatter = await join(server.ws_url, room["id"], host)
    await chatter.send({"type": "chat.send", "text": "hello"})
    event = await back.expect("chat.message")
    assert event["seq"] == welcome["seq"] + 1
    assert [e["type"] for e in back.seen if "seq" in e] == ["chat.message"]


async def test_resume_too_old_for_the_history_gets_a_fresh_welcome(
    start_server: ServerFactory,
) -> None:
    server = await start_server(stream_max_len=5, chat_rate=1000.0, chat_burst=1000)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
    chatter = await join(server.ws_url, room["id"], host)
    epoch = chatter.seen[0]["epoch"]
    # MAXLEN ~ trims whole stream nodes, so write well past the cap.
    for i in range(400):
        await chatter.send({"type": "chat.send", "text": f"line {i}"})
    await chatter.expect("chat.message", lambda e: e["text"] == "line 399", wait=20)

    # Another process has no memory of the room: it must go to the trimmed history.
    other = await start_server(stream_max_len=5)
    back = await join(other.ws_url, room["id"], since=1, epoch=epoch, welcome=False)
    welcome = await back.next()
    assert welcome["type"] == "welcome"
    assert welcome["seq"] == 401
    assert welcome["chat"][-1]["text"] == "line 399"


async def test_resume_with_a_stale_epoch_or_future_seq_gets_a_fresh_welcome(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    stale = await join(server.ws_url, room["id"], since=1, epoch="deadbeef", welcome=False)
    assert (await stale.next())["type"] == "welcome"
    epoch = stale.seen[0]["epoch"]
    future = await join(server.ws_url, room["id"], since=999, epoch=epoch, welcome=False)
    assert (await future.next())["type"] == "welcome"
    garbage = await join(server.ws_url, room["id"], since=None, epoch=epoch, welcome=False)
    assert (await garbage.next())["type"] == "welcome"
    for since in ("%C2%B2", "1" * 5000):  # "²": isdigit() says yes to both, int() says no
        url = f"{server.ws_url}/ws/rooms/{room['id']}?since={since}&epoch={epoch}"
        async with connect(url, subprotocols=["livecommerce.json"]) as ws:  # type: ignore[list-item]
            odd = RoomSocket(ws, "livecommerce.json")
            assert (await odd.next())["type"] == "welcome"


async def test_a_rush_of_joins_during_a_busy_chat_sees_no_gap_and_no_repeat(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    chatter = await join(server.ws_url, room["id"], host, max_queue=None)

    async def chat() -> None:
        for i in range(150):
            await chatter.send({"type": "chat.send", "text": f"line {i}"})

    async def viewer() -> list[int]:
        socket = await join(server.ws_url, room["id"], max_queue=None)
        seqs = [socket.seen[0]["seq"]]
        while seqs[-1] < 151:  # 150 lines after the room.state event
            event = await socket.next(wait=20)
            if "seq" in event:
                seqs.append(event["seq"])
        await socket.close()
        return seqs

    viewers = asyncio.gather(*(viewer() for _ in range(60)))
    _, results = await asyncio.gather(chat(), viewers)
    for seqs in results:
        assert seqs == list(range(seqs[0], 152)), seqs[:10]
