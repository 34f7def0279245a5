"""A room's history after a failover took its latest events with the dead primary."""

from __future__ import annotations

from livecommerce.events import Event
from livecommerce.store import keys
from livecommerce.store.history import Store


async def test_a_seq_taken_back_is_lifted_and_a_resume_beyond_it_gets_a_snapshot(
    redis_url: str,
) -> None:
    store = Store.from_url(redis_url, cluster=True)
    try:
        chat: Event = {"type": "chat.message", "text": "hello"}
        for _ in range(3):
            await store.publish("R", chat)  # type: ignore[arg-type]
        await store.client.set(keys.room_seq("R"), 2)  # the replica never had seq 3
        # A viewer who saw seq 3 asks for what followed: the store cannot say, so a snapshot.
        assert await store.events_after("R", 3) is None
        assert await store.raise_seq("R", 3) == 3  # the process that delivered 3 lifts it
        assert await store.raise_seq("R", 1) == 3  # never down
        assert await store.publish("R", chat) == 4  # type: ignore[arg-type]
        assert [e["seq"] for e in await store.events_after("R", 3) or []] == [4]
    finally:
        await store.close()
