"""Every command a client can send reaches its handler and is answered with its ref."""

from __future__ import annotations

import httpx

from livecommerce.events import Event
from livecommerce.server import Server
from tests.helpers import join, open_room, sign_up

# What a viewer who is neither host nor moderator gets for each command, in a live room
# with no products or sales: (frame, reply type, error code).
VIEWER_COMMANDS: list[tuple[Event, str, str | None]] = [
    ({"type": "chat.send", "text": "hello"}, "ack", None),
    ({"type": "react", "kind": "heart"}, "", None),
    ({"type": "pin", "product_id": "p_none"}, "error", "forbidden"),
    ({"type": "unpin"}, "error", "forbidden"),
    (
        {"type": "sale.start", "product_id": "p_none", "price": 100, "units": 1},
        "error",
        "forbidden",
    ),
    ({"type": "sale.stop", "sale_id": "s_none"}, "error", "forbidden"),
    ({"type": "reserve", "sale_id": "s_none", "key": "k-12345678"}, "error", "not_found"),
    ({"type": "release", "reservation_id": "h_none"}, "error", "not_found"),
    ({"type": "waitlist.join", "sale_id": "s_none"}, "error", "not_found"),
    ({"type": "mod.ban", "user_id": "u_none"}, "error", "forbidden"),
    ({"type": "report", "message_id": "m_none", "reason": "spam"}, "error", "not_found"),
    ({"type": "ping"}, "pong", None),
]


async def test_a_viewer_gets_an_answer_to_every_command_and_never_an_internal_error(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada, vi = [await sign_up(http, n) for n in ("Ada", "Vi")]
    room = await open_room(http, ada)
    socket = await join(server.ws_url, room["id"], vi)

    for n, (frame, _, _) in enumerate(VIEWER_COMMANDS):
        await socket.send({**frame, "ref": f"c{n}"})
    answers: dict[str, Event] = {}
    while (last := f"c{len(VIEWER_COMMANDS) - 1}") not in answers:
        event = await socket.next()
        if isinstance(event.get("ref"), str):
            answers[event["ref"]] = event

    got = {
        f"c{n}": (answers[f"c{n}"]["type"], answers[f"c{n}"].get("code"))
        for n, (_, kind, _) in enumerate(VIEWER_COMMANDS)
        if kind
    }
    assert got == {
        f"c{n}": (kind, code) for n, (_, kind, code) in enumerate(VIEWER_COMMANDS) if kind
    }
    assert "c1" not in answers  # a heart has no reply: it shows in the next reactions count
    assert answers[last]["server_time"] > 0
