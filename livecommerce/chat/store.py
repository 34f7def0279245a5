"""Chat in Redis: one script posts a line, with the sender's standing and rate, in one step.

A room's chat lines are events in its ordered history like any other, under the room's hash
tag; ``chat_post.lua`` reads the room's bans, time-outs and slow mode in the same step that
posts, which is what makes a ban hold on every process at once (invariant 7). The rooms a
person has chatted in are kept apart, for their data export.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from livecommerce.errors import Banned, Muted, NotFound, RateLimited, RoomNotLive
from livecommerce.events import ChatMessage
from livecommerce.store import keys
from livecommerce.store.connection import as_text, guarded, pack_event
from livecommerce.store.scripts import Scripts

KEY_KEPT_MS = 10 * 60 * 1000  # a resend comes within seconds; ten minutes covers a long outage


@dataclass(frozen=True, slots=True)
class Stored:
    """Where a line sits in the room's history; ``repeated`` when its key had posted it."""

    seq: int
    message_id: str
    repeated: bool = False


class ChatStore:
    def __init__(self, client: Redis, scripts: Scripts, *, stream_max_len: int) -> None:
        self.client = client
        self.scripts = scripts
        self.stream_max_len = stream_max_len

    @guarded
    async def post(
        self,
        room_id: str,
        user_id: str,
        event: ChatMessage,
        now: int,
        interval_ms: int,
        burst: int,
        *,
        operator: bool = False,
        key: str = "",
    ) -> Stored:
        """Post a ``chat.message`` event, or find the one ``key`` posted; else the refusal the
        script gave."""
        status, value = await self.scripts.chat_post(
            keys=[
                keys.room(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
                keys.room_chat_rate(room_id, user_id),
                keys.room_bans(room_id),
                keys.room_timeouts(room_id),
                keys.room_slow(room_id, user_id),
                keys.room_chat(room_id),
                keys.room_chat_order(room_id),
                keys.room_chat_key(room_id, user_id, key or event["id"]),
            ],
            args=[
                keys.room_channel(room_id),
                self.stream_max_len,
                pack_event(event),
                now,
                interval_ms,
                burst,
                user_id,
                event["id"],
                "1" if operator else "0",
                self.stream_max_len,
                KEY_KEPT_MS if key else 0,
            ],
        )
        status = int(status)
        if status == 1:
            return Stored(int(value), event["id"])
        if status == 2:
            seq, _, message_id = as_text(value).partition("|")
            return Stored(int(seq), message_id, repeated=True)
        if status == 0:
            raise RateLimited("you are sending messages too fast", retry_after=int(value) / 1000)
        if status == -2:
            raise Banned("you are banned from chatting in this room")
        if status == -3:
            wait = (int(value) - now) / 1000
            raise Muted("you are timed out in this room", retry_after=wait, until=int(value))
        if not value:
            raise NotFound(f"room {room_id} does not exist")
        raise RoomNotLive("the room has ended")

    @guarded
    async def note_chatted_in(self, user_id: str, room_id: str) -> None:
        await self.client.sadd(keys.user_rooms(user_id), room_id)

    @guarded
    async def rooms_chatted_in(self, user_id: str) -> list[str]:
        return sorted(as_text(r) for r in await self.client.smembers(keys.user_rooms(user_id)))
