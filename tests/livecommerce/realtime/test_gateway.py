"""Stories of people in a live room: joining, chatting, reacting, misbehaving."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import jwt
import msgpack
import pytest
from websockets.exceptions import InvalidStatus

from livecommerce.server import Server
from tests.conftest import timeout
from tests.helpers import RoomSocket, join, open_room, sign_up
from tests.livecommerce.conftest import ServerFactory


async def test_viewer_joins_and_gets_a_welcome_snapshot(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    viewer = await sign_up(http, "Vi")

    socket = await join(server.ws_url, room["id"], viewer)
    welcome = socket.seen[0]

    assert welcome["room"]["id"] == room["id"]
    assert welcome["room"]["state"] == "live"
    assert welcome["you"] == {
        "id": viewer.id,
        "name": viewer.name,
        "role": "viewer",
        "can_chat": True,
        "holds": [],
        "bought": {},
        "bids": {},
        "poll_vote": None,
    }
    assert welcome["seq"] == 1  # the room.state event of going live
    assert welcome["chat"] == []
    assert welcome["pinned"] is None
    assert welcome["sales"] == []
    assert welcome["auctions"] == []
    assert welcome["polls"] == {"live": None, "last": None}
    assert abs(welcome["server_time"] - time.time() * 1000) < 60_000
    await socket.close()


async def test_host_and_guest_roles_are_told(server: Server, http: httpx.AsyncClient) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    hosting = await join(server.ws_url, room["id"], host)
    guest = await join(server.ws_url, room["id"])
    assert hosting.seen[0]["you"]["role"] == "host"
    assert guest.seen[0]["you"] == {"id": None, "name": None, "role": "guest", "can_chat": False}


async def test_chat_reaches_everyone_in_order_as_plain_text(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    alice, bob = await sign_up(http, "Alice"), await sign_up(http, "Bob")
    a = await join(server.ws_url, room["id"], alice)
    b = await join(server.ws_url, room["id"], bob, protocol="livecommerce.msgpack")
    guest = await join(server.ws_url, room["id"])

    await a.send({"type": "chat.send", "text": "  <b>hello</b> 👋🏽  ", "ref": "r1"})
    ack = await a.expect("ack")
    assert ack["ref"] == "r1"

    for socket in (a, b, guest):
        message = await socket.expect("chat.message")
        assert message["text"] == "<b>hello</b> 👋🏽"
        assert message["user"] == {"id": alice.id, "name": alice.name}
        assert message["id"] == ack["id"]
        assert message["seq"] == ack["seq"] == 2

    await b.send({"type": "chat.send", "text": "hi Alice"})
    await a.send({"type": "chat.send", "text": "hi Bob"})
    seqs = [(await guest.expect("chat.message"))["seq"] for _ in range(2)]
    assert seqs == [3, 4]


async def test_a_late_viewer_sees_recent_chat_in_the_welcome(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    a = await join(server.ws_url, room["id"], host)
    for text in ("first", "second"):
        await a.send({"type": "chat.send", "text": text})
        await a.expect("ack")
    late = await join(server.ws_url, room["id"])
    welcome = late.seen[0]
    assert [m["text"] for m in welcome["chat"]] == ["first", "second"]
    assert welcome["seq"] == 3


async def test_guest_cannot_chat(server: Server, http: httpx.AsyncClient) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    guest = await join(server.ws_url, room["id"])
    await guest.send({"type": "chat.send", "text": "let me in", "ref": 7})
    error = await guest.expect("error")
    assert error == {
        "type": "error",
        "code": "unauthorized",
        "message": "sign in to chat",
        "ref": 7,
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \t ", "control character"),  # a tab is a control character, and trimmed text is empty
        ("x" * 501, "longer than 500"),
        ("bell\x07", "control character"),
        ("two\nlines", "control character"),
        ("evil\u202eoverride", "control character"),
    ],
)
async def test_bad_chat_is_refused_with_the_reason(
    server: Server, http: httpx.AsyncClient, text: str, reason: str
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    socket = await join(server.ws_url, room["id"], host)
    await socket.send({"type": "chat.send", "text": text, "ref": "x"})
    error = await socket.expect("error")
    assert error["code"] == "bad_request"
    assert error["ref"] == "x"
    assert ("empty" in error["message"]) or (reason in error["message"])


async def test_a_chat_flood_is_rate_limited_with_retry_after(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    flooder = await sign_up(http, "Flo")
    other = await sign_up(http, "Calm")
    f = await join(server.ws_url, room["id"], flooder)
    o = await join(server.ws_url, room["id"], other)

    for i in range(6):
        await f.send({"type": "chat.send", "text": f"spam {i}", "ref": i})
    replies = [await _reply(f) for _ in range(6)]
    assert [r["type"] for r in replies] == ["ack"] * 3 + ["error"] * 3
    limited = replies[3]
    assert limited["code"] == "rate_limited"
    assert 0 < limited["retry_after"] <= 2.0

    # Another person in the same room is not affected by the flood.
    await o.send({"type": "chat.send", "text": "still here", "ref": "o"})
    assert (await _reply(o))["type"] == "ack"


async def _reply(socket: RoomSocket) -> dict[str, Any]:
    while True:
        event = await socket.next()
        if event["type"] in ("ack", "error"):
            return event


async def test_chat_in_an_ended_room_is_refused(server: Server, http: httpx.AsyncClient) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    socket = await join(server.ws_url, room["id"], host)
    ended = await http.post(f"/api/v1/rooms/{room['id']}/end", headers=host.headers)
    assert ended.status_code == 200
    state = await socket.expect("room.state")
    assert state["state"] == "ended"
    await socket.send({"type": "chat.send", "text": "anyone?"})
    assert (await socket.expect("error"))["code"] == "room_not_live"


async def test_reactions_are_summed_not_sent_per_tap(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    watcher = await join(server.ws_url, room["id"])
    tappers = [await join(server.ws_url, room["id"]) for _ in range(3)]
    for tapper in tappers:
        for _ in range(5):
            await tapper.send({"type": "react", "kind": "heart"})
    await tappers[0].send({"type": "react", "kind": "fire"})

    total: dict[str, int] = {}
    messages = 0
    while total != {"heart": 15, "fire": 1}:
        event = await watcher.expect("reactions")
        messages += 1
        for kind, n in event["counts"].items():
            total[kind] = total.get(kind, 0) + n
    assert messages < 16  # 16 taps, far fewer messages

    await tappers[0].send({"type": "react", "kind": "confetti", "ref": 1})
    error = await tappers[0].expect("error")
    assert error["code"] == "bad_request"


async def test_viewer_count_follows_joins_and_leaves(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    watcher = await join(server.ws_url, room["id"], host)
    others = [await join(server.ws_url, room["id"]) for _ in range(3)]
    await watcher.expect("viewers", lambda e: e["count"] == 4)
    for other in others:
        await other.close()
    await watcher.expect("viewers", lambda e: e["count"] == 1)


async def test_ping_gets_pong_with_server_time(server: Server, http: httpx.AsyncClient) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    socket = await join(server.ws_url, room["id"], protocol="livecommerce.msgpack")
    await socket.send({"type": "ping", "ref": 42})
    pong = await socket.expect("pong")
    assert pong["ref"] == 42
    assert isinstance(pong["server_time"], int)


# Bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "frame", "code"),
    [
        ("livecommerce.json", "{not json", "bad_frame"),
        ("livecommerce.json", "[1, 2]", "bad_frame"),
        ("livecommerce.json", b'{"type": "ping"}', "bad_frame"),  # binary on the JSON protocol
        ("livecommerce.json", '{"text": "no type"}', "unknown_type"),
        ("livecommerce.json", '{"type": "teleport"}', "unknown_type"),
        ("livecommerce.json", '{"type": 5}', "unknown_type"),
        ("livecommerce.json", '{"type": "chat.send"}', "bad_request"),
        ("livecommerce.json", '{"type": "chat.send", "text": 12}', "bad_request"),
        ("livecommerce.json", '{"type": "react", "kind": ["heart"]}', "bad_request"),
        ("livecommerce.json", "x" * (64 * 1024 + 1), "too_large"),
        ("livecommerce.msgpack", b"\xc1\xc1", "bad_frame"),
        ("livecommerce.msgpack", b"\x93\x01\x02", "bad_frame"),  # an array, not a map
        ("livecommerce.msgpack", b"\x81\x92\x01\x02\x01", "bad_frame"),  # map key is an array
        ("livecommerce.msgpack", '{"type": "ping"}', "bad_frame"),  # text on msgpack
        ("livecommerce.msgpack", msgpack.packb({"type": "chat.send", "text": None}), "bad_request"),
    ],
)
async def test_bad_frames_get_an_error_naming_the_problem(
    server: Server, http: httpx.AsyncClient, protocol: str, frame: str | bytes, code: str
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    socket = await join(server.ws_url, room["id"], host, protocol=protocol)
    await socket.send_raw(frame)
    error = await socket.expect("error")
    assert error["code"] == code
    assert error["message"]
    # The connection still works afterwards.
    await socket.send({"type": "ping", "ref": "after"})
    assert (await socket.expect("pong"))["ref"] == "after"


async def test_repeated_garbage_closes_only_that_connection(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    abuser = await join(server.ws_url, room["id"])
    bystander = await join(server.ws_url, room["id"], host)
    for _ in range(10):
        await abuser.send_raw("garbage")
    assert await abuser.closed() == 4400

    await bystander.send({"type": "chat.send", "text": "all good here"})
    assert (await bystander.expect("chat.message"))["text"] == "all good here"


async def test_a_frame_over_one_mebibyte_closes_with_1009(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    socket = await join(server.ws_url, room["id"], max_size=None)
    await socket.send_raw("x" * (1024 * 1024 + 1))
    assert await socket.closed() == 1009


async def test_unknown_room_is_refused_with_4404(server: Server) -> None:
    socket = await join(server.ws_url, "r_nope", welcome=False)
    error = await socket.next()
    assert error["code"] == "not_found"
    assert await socket.closed() == 4404


async def test_paths_other_than_rooms_get_404(server: Server) -> None:
    with pytest.raises(InvalidStatus) as caught:
        await join(server.ws_url, "../../etc", welcome=False)
    assert caught.value.response.status_code == 404


async def test_forged_token_is_refused_with_4401(server: Server, http: httpx.AsyncClient) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    forged = jwt.encode(
        {"iss": "livecommerce", "sub": host.id, "name": "Ada", "exp": int(time.time()) + 60},
        "not-the-server-secret-but-long-enough-to-sign",
        algorithm="HS256",
    )
    host.token = forged
    socket = await join(server.ws_url, room["id"], host, welcome=False)
    assert (await socket.next())["code"] == "unauthorized"
    assert await socket.closed() == 4401


async def test_expired_token_is_refused_with_4401(server: Server, http: httpx.AsyncClient) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    assert server.gateway is not None
    host.token, _ = server.gateway.auth.issue(host.id, host.name, int(time.time()) - 8 * 86400)
    socket = await join(server.ws_url, room["id"], host, welcome=False)
    error = await socket.next()
    assert (error["code"], error["message"]) == ("unauthorized", "token expired")
    assert await socket.closed() == 4401


async def test_load_is_shed_with_a_retry_hint(start_server: ServerFactory) -> None:
    server = await start_server(max_connections=2)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
    first = await join(server.ws_url, room["id"])
    second = await join(server.ws_url, room["id"])
    third = await join(server.ws_url, room["id"], welcome=False)
    error = await third.next()
    assert error["code"] == "overloaded"
    assert 1 <= error["retry_after"] <= 5
    assert await third.closed() == 4003
    await first.send({"type": "ping"})
    assert (await first.expect("pong"))["type"] == "pong"
    await second.close()


async def test_shutdown_tells_clients_to_reconnect(start_server: ServerFactory) -> None:
    server = await start_server()
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        host = await sign_up(http, "Ada")
        room = await open_room(http, host)
    socket = await join(server.ws_url, room["id"])
    stopping = asyncio.create_task(server.stop())
    notice = await socket.expect("reconnect")
    assert notice["reason"] == "shutdown"
    assert await socket.closed() == 1012
    await stopping


async def test_json_and_msgpack_carry_the_same_messages(
    server: Server, http: httpx.AsyncClient
) -> None:
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    as_json = await join(server.ws_url, room["id"])
    as_msgpack = await join(server.ws_url, room["id"], protocol="livecommerce.msgpack")
    assert json.loads(json.dumps(as_json.seen[0]["room"])) == as_msgpack.seen[0]["room"]
    sender = await join(server.ws_url, room["id"], host)
    await sender.send({"type": "chat.send", "text": "same"})
    a = await as_json.expect("chat.message")
    b = await as_msgpack.expect("chat.message")
    assert a == b


async def test_a_server_that_cannot_start_cleans_up_after_itself(
    server: Server, start_server: ServerFactory
) -> None:
    def background() -> list[str]:
        names = ("http", "viewers", "reactions")
        return sorted(
            "bus" if t.get_name().startswith("bus-link") else t.get_name()
            for t in asyncio.all_tasks()
            if t.get_name() in names or t.get_name().startswith("bus-link")
        )

    assert server.bus is not None
    async with asyncio.timeout(timeout(5)):
        await server.bus.started.wait()  # its first link runs
    before = background()
    with pytest.raises(OSError, match="address already in use"):
        await start_server(ws_port=server.ws_port)  # that port is taken
    assert background() == before == ["bus", "http", "reactions", "viewers"]


async def test_a_line_sent_again_with_its_key_is_in_the_room_once(
    server: Server, http: httpx.AsyncClient
) -> None:
    """Alice's reply is lost with her connection; her page sends the line again with the same
    key from a new socket. The room has the line once, and the resend costs no rate."""
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    alice, bob = await sign_up(http, "Alice"), await sign_up(http, "Bob")
    b = await join(server.ws_url, room["id"], bob)
    first = await join(server.ws_url, room["id"], alice)
    await first.send({"type": "chat.send", "text": "is it wool?", "key": "line-1"})
    posted = await first.expect("ack")
    await first.close()

    again = await join(server.ws_url, room["id"], alice)
    for n in range(3):  # more than the burst of 3 would allow as new lines
        await again.send({"type": "chat.send", "text": "is it wool?", "key": "line-1", "ref": n})
        repeated = await again.expect("ack")
        assert repeated == {
            "type": "ack",
            "id": posted["id"],
            "seq": posted["seq"],
            "repeated": True,
            "ref": n,
        }
    await b.send({"type": "chat.send", "text": "mine too", "key": "line-1"})  # Bob's own key

    lines = [await b.expect("chat.message") for _ in range(2)]
    assert [(m["text"], m["user"]["name"]) for m in lines] == [
        ("is it wool?", "Alice"),
        ("mine too", "Bob"),
    ]
    welcome = (await join(server.ws_url, room["id"])).seen[0]
    assert [m["text"] for m in welcome["chat"]] == ["is it wool?", "mine too"]


async def test_a_socket_tapping_enter_and_vote_in_a_stream_is_slowed_and_others_are_not(
    server: Server, http: httpx.AsyncClient
) -> None:
    """Entering a giveaway and voting cost the store a few calls each: a burst of five, then
    one a second per socket, answered ``rate_limited`` without reaching the store."""
    host = await sign_up(http, "Ada")
    room = await open_room(http, host)
    spammer, calm = await sign_up(http, "Spam"), await sign_up(http, "Calm")
    s = await join(server.ws_url, room["id"], spammer)
    c = await join(server.ws_url, room["id"], calm)
    taps: list[dict[str, Any]] = [
        {"type": "giveaway.enter", "giveaway_id": "gw_none"},
        {"type": "poll.vote", "poll_id": "pl_none", "option": 0},
    ]
    for n in range(20):
        await s.send({**taps[n % 2], "ref": n})
    replies = [await _reply(s) for _ in range(20)]
    assert [r["ref"] for r in replies] == list(range(20))
    codes = [r["code"] for r in replies]
    assert "rate_limited" not in codes[:5]
    assert set(codes[:5]) <= {"giveaway_not_active", "poll_not_active", "not_found"}
    assert codes.count("rate_limited") >= 10  # five, and one more for each second it took
    limited = next(r for r in replies if r["code"] == "rate_limited")
    assert limited["retry_after"] == 1.0

    await c.send({**taps[1], "ref": "calm"})
    assert (await _reply(c))["code"] != "rate_limited"
