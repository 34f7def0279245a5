"""The Chat service posts a line whichever edge it comes from, and refuses it by name."""

from __future__ import annotations

import httpx
import pytest

from livecommerce.accounts.auth import Identity
from livecommerce.chat.rules import ChatPolicy
from livecommerce.chat.service import Chat, chat_message, interval_ms
from livecommerce.errors import BadRequest, BlockedWord, RateLimited, Unauthorized
from livecommerce.runtime.ids import MessageId
from livecommerce.server import Server
from tests.helpers import User, join, open_room, sign_up


def test_a_line_is_the_event_everyone_in_the_room_sees() -> None:
    kari = Identity("u_kari", "Kari", "account")
    assert chat_message(kari, "is it wool?", 1_700_000_000_000, MessageId("m_1")) == {
        "type": "chat.message",
        "id": "m_1",
        "user": {"id": "u_kari", "name": "Kari"},
        "text": "is it wool?",
        "at": 1_700_000_000_000,
    }


@pytest.mark.parametrize(
    ("rate", "interval"),
    [(0.5, 2000), (1.0, 1000), (3.0, 333), (1000.0, 1), (5000.0, 1)],
)
def test_the_sustained_rate_becomes_the_scripts_interval_never_zero(
    rate: float, interval: int
) -> None:
    assert interval_ms(ChatPolicy(rate=rate)) == interval


def chat_of(server: Server) -> Chat:
    assert server.chat is not None
    return server.chat


def identity_of(server: Server, user: User) -> Identity:
    assert server.gateway is not None
    return server.gateway.auth.verify(user.token)


async def test_a_line_posted_through_the_service_reaches_the_room_in_order(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada, kari, ola = [await sign_up(http, n) for n in ("Ada", "Kari", "Ola")]
    room = await open_room(http, ada)
    watching = await join(server.ws_url, room["id"], ola)
    chat = chat_of(server)

    posted = await chat.post(identity_of(server, kari), room["id"], "  is it wool?  ")

    line = await watching.expect("chat.message")
    assert (line["id"], line["seq"], line["text"]) == (posted.id, posted.seq, "is it wool?")
    assert line["user"] == {"id": kari.id, "name": "Kari"}
    assert posted.user_id == kari.id
    assert await chat.rooms_of(kari.id) == []
    await chat.note_chatted_in(kari.id, room["id"])
    assert await chat.rooms_of(kari.id) == [room["id"]]


async def test_a_guest_an_empty_line_and_a_blocked_word_are_refused_and_nothing_is_posted(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada, kari = [await sign_up(http, n) for n in ("Ada", "Kari")]
    room = await open_room(http, ada)
    assert server.moderation is not None
    assert server.store is not None
    await server.moderation.set_words(room["id"], ["followers"])
    chat = chat_of(server)
    before = await server.store.current_seq(room["id"])

    with pytest.raises(Unauthorized):
        await chat.post(None, room["id"], "hello")
    with pytest.raises(BadRequest) as empty:
        await chat.post(identity_of(server, kari), room["id"], "   ")
    assert empty.value.code == "bad_request"
    with pytest.raises(BlockedWord):
        await chat.post(identity_of(server, kari), room["id"], "cheap followers here")

    assert await server.store.current_seq(room["id"]) == before


async def test_a_flood_is_refused_with_a_retry_after_and_others_still_chat(
    server: Server, http: httpx.AsyncClient
) -> None:
    ada, kari, ola = [await sign_up(http, n) for n in ("Ada", "Kari", "Ola")]
    room = await open_room(http, ada)
    shared = chat_of(server)
    chat = Chat(shared.store, shared.screen, policy=ChatPolicy(rate=0.01, burst=2))
    flooder = identity_of(server, kari)

    for n in range(2):
        await chat.post(flooder, room["id"], f"buy buy buy {n}")
    with pytest.raises(RateLimited) as refused:
        await chat.post(flooder, room["id"], "buy buy buy again")

    assert refused.value.retry_after > 0
    assert (await chat.post(identity_of(server, ola), room["id"], "lovely colour")).seq > 0
