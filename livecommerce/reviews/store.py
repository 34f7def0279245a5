"""Reviews in Redis: each seller's reviews and ratings under the seller's tag ``{c:<creator>}``.

A review, its pair entry ('<order> <product>' -> id) and the two aggregates it moves change
in one script, so a concurrent double submit from two processes makes one review and the
ratings always equal a recount. Finding a review by id alone (``lc:review_seller``) and a
person's reviews (``{u:<user>}:reviews``) live in other slots and are written after the
script, idempotently: a retry of the same write repairs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from livecommerce.events import Event
from livecommerce.reviews.rules import Rating
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded
from livecommerce.store.scripts import register

AUDIT_KEPT = 500
REPORTERS_KEPT = 50


@dataclass(frozen=True, slots=True)
class Written:
    status: int  # 1 created, 2 the pair's review (edited or unchanged), 0 refused
    review: Event | None
    reason: str = ""


def _review_keys(seller_id: str, product_id: str) -> list[str]:
    return [
        keys.reviews(seller_id),
        keys.review_pairs(seller_id),
        keys.product_rating(seller_id, product_id),
        keys.seller_rating(seller_id),
        keys.product_reviews(seller_id, product_id),
        keys.seller_reviews(seller_id),
        keys.reviews_reported(seller_id),
    ]


class ReviewStore:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self._put: AsyncScript = register(client, "review_put")
        self._delete: AsyncScript = register(client, "review_delete")
        self._report: AsyncScript = register(client, "review_report")
        self._judge: AsyncScript = register(client, "review_judge")
        self._erase: AsyncScript = register(client, "review_erase")

    @guarded
    async def put(
        self,
        seller_id: str,
        pair: str,
        fresh: Event,
        now: int,
    ) -> Written:
        """Write ``fresh`` for the pair, or edit the pair's review to its ratings and text."""
        reply = await self._put(
            keys=_review_keys(seller_id, fresh["product_id"]),
            args=[
                pair,
                fresh["reviewer"]["id"],
                fresh["product_rating"],
                fresh["seller_rating"],
                fresh["text"],
                now,
                orjson.dumps(fresh),
            ],
        )
        status = int(reply[0])
        if status == 0:
            return Written(0, None, as_text(reply[1]))
        review: Event = orjson.loads(reply[1])
        await self.index(seller_id, review)
        return Written(status, review)

    async def index(self, seller_id: str, review: Event) -> None:
        """Where to find a review by id and by its author; idempotent."""
        await self.client.hset(keys.review_sellers(), review["id"], seller_id)
        await self.client.zadd(
            keys.user_reviews(review["reviewer"]["id"]),
            {f"{seller_id} {review['id']}": review["created_at"]},
        )

    @guarded
    async def delete(
        self, seller_id: str, product_id: str, pair: str, reviewer_id: str
    ) -> tuple[bool, str]:
        """(True, review id) when deleted; (False, reason) otherwise."""
        reply = await self._delete(
            keys=_review_keys(seller_id, product_id), args=[pair, reviewer_id]
        )
        if int(reply[0]) == 1:
            review_id = as_text(reply[1])
            await self.client.zrem(keys.user_reviews(reviewer_id), f"{seller_id} {review_id}")
            await self.client.hdel(keys.review_sellers(), review_id)
            return True, review_id
        return False, as_text(reply[1])

    @guarded
    async def seller_of(self, review_id: str) -> str | None:
        raw = await self.client.hget(keys.review_sellers(), review_id)
        return None if raw is None else as_text(raw)

    @guarded
    async def review(self, seller_id: str, review_id: str) -> Event | None:
        raw = await self.client.hget(keys.reviews(seller_id), review_id)
        return None if raw is None else orjson.loads(raw)

    @guarded
    async def by_pair(self, seller_id: str, pair: str) -> Event | None:
        review_id = await self.client.hget(keys.review_pairs(seller_id), pair)
        if review_id is None:
            return None
        return await self.review(seller_id, as_text(review_id))

    async def _many(self, seller_id: str, ids: list[Any]) -> list[Event]:
        if not ids:
            return []
        raws = await self.client.hmget(keys.reviews(seller_id), [as_text(i) for i in ids])
        return [orjson.loads(raw) for raw in raws if raw is not None]

    @guarded
    async def of_product(
        self, seller_id: str, product_id: str, offset: int, limit: int
    ) -> list[Event]:
        """Newest first."""
        ids = await self.client.zrevrange(
            keys.product_reviews(seller_id, product_id), offset, offset + limit - 1
        )
        return await self._many(seller_id, ids)

    @guarded
    async def of_seller(self, seller_id: str, offset: int, limit: int) -> list[Event]:
        ids = await self.client.zrevrange(
            keys.seller_reviews(seller_id), offset, offset + limit - 1
        )
        return await self._many(seller_id, ids)

    @guarded
    async def reported(self, seller_id: str, offset: int, limit: int) -> list[Event]:
        """Reviews reported and not yet judged, longest waiting first."""
        ids = await self.client.zrange(keys.reviews_reported(seller_id), offset, offset + limit - 1)
        return await self._many(seller_id, ids)

    @guarded
    async def product_rating(self, seller_id: str, product_id: str) -> Rating:
        raw = await self.client.hgetall(keys.product_rating(seller_id, product_id))
        return Rating.from_hash(as_strings(raw))

    @guarded
    async def seller_rating(self, seller_id: str) -> Rating:
        return Rating.from_hash(
            as_strings(await self.client.hgetall(keys.seller_rating(seller_id)))
        )

    @guarded
    async def report(self, seller_id: str, review_id: str, reporter_id: str, now: int) -> int:
        """1 counted, 2 counted before, 0 no such review."""
        reply = await self._report(
            keys=[keys.reviews(seller_id), keys.reviews_reported(seller_id)],
            args=[review_id, reporter_id, now, REPORTERS_KEPT],
        )
        return int(reply[0])

    @guarded
    async def judge(
        self, seller_id: str, review_id: str, hide: bool, entry: Event
    ) -> tuple[int, Event | None]:
        reply = await self._judge(
            keys=[
                keys.reviews(seller_id),
                keys.reviews_reported(seller_id),
                keys.reviews_audit(seller_id),
            ],
            args=[review_id, "1" if hide else "0", orjson.dumps(entry), AUDIT_KEPT],
        )
        status = int(reply[0])
        return status, (orjson.loads(reply[1]) if status else None)

    @guarded
    async def audit(self, seller_id: str, limit: int = 100) -> list[Event]:
        raws = await self.client.lrange(keys.reviews_audit(seller_id), 0, limit - 1)
        return [orjson.loads(raw) for raw in raws]

    @guarded
    async def of_user(self, user_id: str, limit: int) -> list[Event]:
        """A person's own reviews, newest first, as stored (their words even if hidden)."""
        members = await self.client.zrevrange(keys.user_reviews(user_id), 0, limit - 1)
        found = []
        for member in members:
            seller_id, _, review_id = as_text(member).partition(" ")
            review = await self.review(seller_id, review_id)
            if review is not None and review["reviewer"]["id"] == user_id:
                found.append(review)
        return found

    @guarded
    async def erase_user(self, user_id: str) -> int:
        """A deleted person's reviews keep their stars and lose their words and name."""
        erased = 0
        members = await self.client.zrange(keys.user_reviews(user_id), 0, -1)
        for member in members:
            seller_id, _, review_id = as_text(member).partition(" ")
            erased += int(
                await self._erase(keys=[keys.reviews(seller_id)], args=[review_id, user_id])
            )
        await self.client.delete(keys.user_reviews(user_id))
        return erased
