"""A person takes their data with them, or leaves: their lines stay, nameless; orders stay."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import hosted_room, join, open_room, say, sign_up, tool

PASSWORD = "correct horse battery"


async def test_a_viewer_exports_everything_the_server_keeps_about_them(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (ada, kari) = await hosted_room(http, "Ada", "Kari")
    talking = await join(server.ws_url, room["id"], kari)
    first = await say(talking, "is the blue one still there?", "1")
    await say(talking, "thanks!", "2")
    await say(await join(server.ws_url, room["id"], ada), "yes it is", "3")

    export = await http.get("/api/v1/me/export", headers=kari.headers)
    assert export.status_code == 200
    data = export.json()
    assert data["account"]["username"] == kari.username
    assert "password_hash" not in str(data)
    texts = sorted(m["text"] for m in data["messages"])
    assert texts == ["is the blue one still there?", "thanks!"]
    assert {m["room_id"] for m in data["messages"]} == {room["id"]}
    assert first["id"] in {m["id"] for m in data["messages"]}
    assert data["orders"] == []
    assert (await http.get("/api/v1/me/export")).status_code == 401


async def test_a_deleted_account_leaves_its_lines_nameless_and_its_tokens_dead(
    server: Server, http: httpx.AsyncClient
) -> None:
    room, (ada, kari) = await hosted_room(http, "Ada", "Kari")
    talking = await join(server.ws_url, room["id"], kari)
    posted = await say(talking, "see you all tomorrow", "1")
    hosting = await join(server.ws_url, room["id"], ada)
    await tool(hosting, "p", type="mod.pin_chat", message_id=posted["id"])

    wrong = await http.request(
        "DELETE", "/api/v1/me", json={"password": "not it"}, headers=kari.headers
    )
    assert wrong.status_code == 401
    gone = await http.request("DELETE", "/api/v1/me", json={"password": PASSWORD},
                              headers=kari.headers)  # fmt: skip
    assert gone.status_code == 204

    assert (await http.get("/api/v1/me", headers=kari.headers)).status_code == 401
    again = await http.post(
        "/api/v1/sessions", json={"username": kari.username, "password": PASSWORD}
    )
    assert again.status_code == 401
    url = f"{server.ws_url}/ws/rooms/{room['id']}?token={kari.token}"
    async with connect(url, subprotocols=["livecommerce.json"]) as ws:  # type: ignore[list-item]
        refused = json.loads(await asyncio.wait_for(ws.recv(), timeout(5)))
        assert refused["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), timeout(5))
        assert ws.close_code == 4401

    welcome = (await join(server.ws_url, room["id"])).seen[0]
    line = next(m for m in welcome["chat"] if m["id"] == posted["id"])
    assert line["text"] == "see you all tomorrow"
    assert line["user"] == {"id": "deleted", "name": ""}
    assert welcome["pinned_chat"]["user"] == {"id": "deleted", "name": ""}
    assert kari.name not in str(welcome)

    reused = await http.post(
        "/api/v1/accounts", json={"username": kari.username, "password": PASSWORD}
    )
    assert reused.status_code == 201  # the username is free again
    assert reused.json()["id"] != kari.id


async def test_deleting_an_account_needs_its_password(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    body = await http.request("DELETE", "/api/v1/me", json={}, headers=ada.headers)
    assert body.status_code == 400
    assert "password" in body.json()["detail"]


async def test_a_signed_in_crowd_joining_at_once_is_checked_in_a_few_store_calls(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada = await sign_up(http, "Ada")
    room = await open_room(http, ada)
    crowd = [await sign_up(http, f"Fan {i}") for i in range(20)]
    gone = crowd.pop()
    assert (
        await http.request(
            "DELETE", "/api/v1/me", json={"password": PASSWORD}, headers=gone.headers
        )
    ).status_code == 204
    assert server.account_store is not None
    before = server.account_store.round_trips["deleted"]
    sockets = await asyncio.gather(*(join(server.ws_url, room["id"], fan) for fan in crowd))
    calls = server.account_store.round_trips["deleted"] - before
    assert calls < len(crowd) / 2, calls  # one pipeline per join would be 19
    refused = await asyncio.gather(
        *(join(server.ws_url, room["id"], person) for person in (gone, crowd[0])),
        return_exceptions=True,
    )
    assert isinstance(refused[0], Exception)  # the deleted account, checked in the same batch
    assert not isinstance(refused[1], Exception)
    for socket in [*sockets, refused[1]]:
        await socket.close()  # type: ignore[union-attr]
