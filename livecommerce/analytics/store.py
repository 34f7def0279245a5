"""A show's counts in Redis, under the room's hash tag: every process adds, anyone reads.

A flush is one script call per show per process per second (``stats_flush.lua``), so the
counting costs the store a call a second per room whatever the crowd; an order or a refund is
one call of its own (``stats_order.lua``), idempotent by order id, so a retried checkout or
refund never counts twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis.asyncio import Redis

from livecommerce.analytics.rules import Flush
from livecommerce.rooms.store import pin_history
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, guarded
from livecommerce.store.scripts import register

# A process that stops flushing (it died) drops out of the show's audience after this: long
# enough for a late flush, short enough that its viewers, back on another process, are not
# counted twice in the peak for long.
PRESENCE_TTL_MS = 2500


class AnalyticsStore:
    def __init__(self, client: Redis, *, secret: bytes) -> None:
        self.client = client
        self._secret = hashlib.sha256(b"livecommerce analytics " + secret).digest()
        self._flush = register(client, "stats_flush")
        self._order = register(client, "stats_order")

    def sketch_id(self, user_id: str) -> str:
        """A buyer as the sketches and the creator's set keep them: a keyed hash, not the id."""
        return hashlib.blake2b(user_id.encode(), key=self._secret, digest_size=12).hexdigest()

    @guarded
    async def flush(self, room_id: str, process_id: str, flush: Flush) -> tuple[bool, int]:
        """The second's counts added if the show was live in it; the audience now."""
        args: list[Any] = [
            process_id,
            flush.now,
            flush.since,
            flush.sockets,
            f"e{flush.watch_ms}" if flush.watch_exact else flush.watch_ms,
            flush.views,
            PRESENCE_TTL_MS,
            len(flush.counts),
            len(flush.products),
            len(flush.viewers),
        ]
        for name, n in flush.counts.items():
            args += (name, n)
        for name, n in flush.products.items():
            args += (name, n)
        args += flush.viewers
        args += flush.chatters
        live, total = await self._flush(
            keys=[
                keys.room(room_id),
                keys.room_stats(room_id),
                keys.room_stats_presence(room_id),
                keys.room_stats_viewers(room_id),
                keys.room_stats_chatters(room_id),
            ],
            args=args,
        )
        return bool(live), int(total)

    @guarded
    async def first_purchase(self, creator_id: str, buyer_id: str) -> bool:
        """Whether this is the buyer's first order from the creator (their first call here)."""
        added = await self.client.sadd(keys.creator_buyers(creator_id), self.sketch_id(buyer_id))
        return bool(added)

    @guarded
    async def order(
        self,
        kind: str,
        room_id: str,
        order: dict[str, Any],
        *,
        first: bool = False,
    ) -> bool:
        line = order["lines"][0]
        counted = await self._order(
            keys=[
                keys.room_stats(room_id),
                keys.room_stats_counted(room_id),
                keys.room_stats_buyers(room_id),
            ],
            args=[
                kind,
                order["id"],
                int(order["created_at"]),
                line["product_id"],
                int(line["quantity"]),
                int(order["amount"]),
                self.sketch_id(order["buyer"]["id"]),
                1 if first else 0,
            ],
        )
        return bool(counted)

    @guarded
    async def counted(self, room_id: str, order_id: str) -> bool:
        return bool(await self.client.sismember(keys.room_stats_counted(room_id), order_id))

    @guarded
    async def read(self, room_id: str) -> tuple[dict[str, str], int, int, int]:
        """The hash, and the viewers, chatters and buyers sketches' counts."""
        # Not one pipeline: a cluster client pipelines no PFCOUNT.
        fields, viewers, chatters, buyers = await asyncio.gather(
            self.client.hgetall(keys.room_stats(room_id)),
            self.client.pfcount(keys.room_stats_viewers(room_id)),
            self.client.pfcount(keys.room_stats_chatters(room_id)),
            self.client.pfcount(keys.room_stats_buyers(room_id)),
        )
        return as_strings(fields), int(viewers), int(chatters), int(buyers)

    @guarded
    async def pins(self, room_id: str) -> list[dict[str, Any]]:
        return await pin_history(self.client, room_id)
