"""The chat desk: posting a line, whichever edge it comes from.

The rules of a line (``rules.clean_text``), the room's blocked words, and then one script
that checks the sender's standing (ban, time-out), slow mode and rate and posts the line in
the room's order: the sender learns which of these refused them, and a line that is posted
is in the room's history before anyone is told. The word screen is handed in (the moderation
desk keeps and caches the lists), so chat needs nothing above it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from livecommerce.accounts.auth import Identity
from livecommerce.chat.rules import ChatPolicy, clean_text
from livecommerce.chat.store import ChatStore
from livecommerce.errors import Unauthorized
from livecommerce.events import ChatMessage, Person
from livecommerce.runtime import metrics
from livecommerce.runtime.ids import Ids, MessageId

Screen = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Posted:
    """A line in the room's history: its id and seq, and whose it is."""

    id: str
    seq: int
    user_id: str
    repeated: bool = False


def interval_ms(policy: ChatPolicy) -> int:
    """The policy's sustained rate as the script's emission interval: at least 1 ms a line."""
    return max(1, int(1000 / policy.rate))


def chat_message(who: Identity, text: str, now: int, message_id: MessageId) -> ChatMessage:
    """The ``chat.message`` event of a line (the store gives it its ``seq``)."""
    return ChatMessage(
        type="chat.message",
        id=message_id,
        user=Person(id=who.id, name=who.name),
        text=text,
        at=now,
    )


class Chat:
    def __init__(
        self,
        store: ChatStore,
        screen: Screen,
        *,
        policy: ChatPolicy,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.store = store
        self.screen = screen
        self.policy = policy
        self.clock = clock
        self.ids = ids or Ids()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def post(self, who: Identity | None, room_id: str, text: str, key: str = "") -> Posted:
        """Post a line as ``who``; refused with the error naming the rule it broke. A ``key``
        the sender used before gives back the line it posted: a resend is not a second line."""
        if who is None:
            raise Unauthorized("sign in to chat")
        text = clean_text(text, self.policy)
        await self.screen(room_id, text)
        now = self.now_ms()
        event = chat_message(who, text, now, self.ids.message())
        stored = await self.store.post(
            room_id, who.id, event, now, interval_ms(self.policy), self.policy.burst, key=key
        )
        if stored.repeated:
            return Posted(stored.message_id, stored.seq, who.id, repeated=True)
        metrics.EVENTS_PUBLISHED.labels("chat.message").inc()
        return Posted(event["id"], stored.seq, who.id)

    async def note_chatted_in(self, user_id: str, room_id: str) -> None:
        """Remember the room for the person's data export (what ``rooms_of`` reads)."""
        await self.store.note_chatted_in(user_id, room_id)

    async def rooms_of(self, user_id: str) -> list[str]:
        """The rooms a person has chatted in, for their data export."""
        return await self.store.rooms_chatted_in(user_id)
