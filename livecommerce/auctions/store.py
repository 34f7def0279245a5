"""The auction engine's store: each step one Lua script under the room's hash tag.

A bid, the price it makes and the room event that tells everyone are one atomic step, so two
processes taking bids on one lot can never both lead, and closing a lot writes its winner's
order in the same step as the ``auction.ended`` every viewer sees: exactly one of each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from livecommerce.auctions.rules import Auction, Increments, auction_from_hash
from livecommerce.errors import NotFound
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded
from livecommerce.store.schedule import Schedules
from livecommerce.store.scripts import register

MAX_OPEN_LOTS = 200  # queued and running lots one room may have at once


@dataclass(frozen=True, slots=True)
class BidRequest:
    bidder: str
    name: str
    amount: int
    key: str


@dataclass(frozen=True, slots=True)
class BidAnswer:
    """``status`` 1 taken now, 2 taken before under this key, 0 refused with ``reason``."""

    status: int
    seq: int = 0
    reason: str = ""
    amount: int = 0
    max: int = 0
    leading: bool = False
    outbid: str = ""
    next_bid: int = 0
    ends_at: int = 0
    retry_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status != 0


@dataclass(frozen=True, slots=True)
class Closing:
    """What ``end`` did: ``closed`` by this call (then ``seq``), the outcome, the order."""

    closed: bool
    reason: str
    seq: int = 0
    outcome: str = ""
    order: dict[str, Any] | None = None
    order_id: str = ""
    ends_at: int = 0


class AuctionStore:
    def __init__(self, client: Redis, *, stream_max_len: int) -> None:
        self.client = client
        self.schedules = Schedules(client)
        self.stream_max_len = stream_max_len
        self._rooms: dict[str, str] = {}
        self._queue = register(client, "auction_queue")
        self._start = register(client, "auction_start")
        self._bid = register(client, "auction_bid")
        self._end = register(client, "auction_end")
        self._void = register(client, "auction_void")
        self._second_chance = register(client, "auction_second_chance")
        self._pay = register(client, "auction_order_pay")
        self._lapse = register(client, "auction_order_lapse")

    @guarded
    async def room_of(self, auction_id: str) -> str:
        """The room a lot runs in; immutable, so cached for the life of the process."""
        room_id = self._rooms.get(auction_id)
        if room_id is None:
            raw = await self.client.hget(keys.auction_rooms(), auction_id)
            if raw is None:
                raise NotFound(f"auction {auction_id[:80]} does not exist")
            room_id = self._rooms[auction_id] = as_text(raw)
        return room_id

    @guarded
    async def auction(self, room_id: str, auction_id: str) -> Auction:
        raw = await self.client.hgetall(keys.auction_hash(room_id, auction_id))
        if not raw:
            raise NotFound(f"auction {auction_id[:80]} does not exist")
        return auction_from_hash(as_strings(raw))

    @guarded
    async def room_auctions(self, room_id: str, limit: int = 50) -> list[Auction]:
        """The room's lots, newest first."""
        ids = await self.client.zrevrange(keys.room_auctions(room_id), 0, limit - 1)
        return await self._lots(room_id, [as_text(i) for i in ids])

    @guarded
    async def open_and_last(self, room_id: str) -> list[Auction]:
        """The room's open lots in run-sheet order, then the one that ended last."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zrange(keys.room_open_auctions(room_id), 0, -1)
            pipe.get(keys.room_last_auction(room_id))
            open_ids, last = await pipe.execute()
        ids = [as_text(i) for i in open_ids] + ([as_text(last)] if last is not None else [])
        return await self._lots(room_id, ids)

    async def _lots(self, room_id: str, ids: Sequence[str]) -> list[Auction]:
        async with self.client.pipeline(transaction=False) as pipe:
            for auction_id in ids:
                pipe.hgetall(keys.auction_hash(room_id, auction_id))
            rows = await pipe.execute()
        return [auction_from_hash(as_strings(row)) for row in rows if row]

    @guarded
    async def live_lot(self, room_id: str) -> str | None:
        raw = await self.client.get(keys.room_live_auction(room_id))
        return None if raw is None else as_text(raw)

    @guarded
    async def bids(self, room_id: str, auction_id: str) -> list[dict[str, Any]]:
        raws = await self.client.lrange(keys.auction(room_id, auction_id)[1], 0, -1)
        return [orjson.loads(raw) for raw in raws]

    @guarded
    async def maxes_of(
        self, room_id: str, auction_ids: Sequence[str], user_id: str
    ) -> dict[str, int]:
        """A bidder's own max on each of these lots they bid on: for their welcome only."""
        if not auction_ids:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for auction_id in auction_ids:
                pipe.hget(keys.auction(room_id, auction_id)[2], user_id)
            rows = await pipe.execute()
        return {a: int(raw) for a, raw in zip(auction_ids, rows, strict=True) if raw is not None}

    @guarded
    async def queue(self, auction: Auction, increments: Increments) -> int:
        """Write the lot and announce it; the seq of its ``auction.queued``."""
        room_id = auction.room_id
        await self.client.hset(keys.auction_rooms(), auction.id, room_id)
        self._rooms[auction.id] = room_id
        flat: list[str] = []
        for name, value in auction.to_hash().items():
            flat += [name, value]
        status, value = await self._queue(
            keys=[
                *keys.auction(room_id, auction.id),
                keys.room(room_id),
                keys.room_auctions(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
                keys.room_open_auctions(room_id),
            ],
            args=[
                auction.queued_at,
                keys.room_channel(room_id),
                self.stream_max_len,
                increments.spec(),
                MAX_OPEN_LOTS,
                *flat,
            ],
        )
        if int(status) == 0:
            return {"not_found": -1, "full": -2}.get(as_text(value), 0)
        return int(value)

    @guarded
    async def start(
        self, room_id: str, auction_id: str, now: int, increments: Increments
    ) -> tuple[bool, str, int]:
        """(True, seq, ends_at) when started; (False, reason, 0) when not.

        The lot joins the set the tickers visit before it starts: a process that dies right
        after the start must not leave a lot that never closes. A lot that did not start
        leaves the set at once (an ended one would otherwise be announced again), or, if
        this process died first, when the ticker finds it still queued."""
        index = keys.active_auctions()
        duration_s = await self.client.hget(keys.auction_hash(room_id, auction_id), "duration_s")
        if duration_s is None:
            return False, "not_found", 0
        due = now + int(duration_s) * 1000  # the end it will have, unless a bid moves it
        self.schedules[index].expect(due)
        added = await self.client.zadd(index, {f"{room_id} {auction_id}": due}, nx=True)
        raw = await self._start(
            keys=[
                *keys.auction(room_id, auction_id),
                keys.room(room_id),
                keys.room_live_auction(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[now, keys.room_channel(room_id), self.stream_max_len, increments.spec()],
        )
        if int(raw[0]) == 0:
            if added:  # an ended lot must not come back to the ticker: it would tell again
                await self.client.zrem(index, f"{room_id} {auction_id}")
            return False, as_text(raw[1]), 0
        ends_at = int(raw[2])
        await self.client.zadd(index, {f"{room_id} {auction_id}": ends_at})
        return True, as_text(raw[1]), ends_at

    @guarded
    async def bid_many(
        self,
        room_id: str,
        auction_id: str,
        requests: Sequence[BidRequest],
        now: int,
        increments: Increments,
        rate: tuple[int, int] = (0, 1),
    ) -> list[BidAnswer]:
        """One script call for many bids on one lot, answered in order as if one by one."""
        args: list[Any] = [
            now,
            increments.spec(),
            keys.room_channel(room_id),
            self.stream_max_len,
            *rate,
        ]
        for r in requests:
            args += [r.bidder, r.name, r.amount, r.key]
        raw = await self._bid(
            keys=[
                *keys.auction(room_id, auction_id),
                keys.room(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
                keys.room_bans(room_id),
                *(keys.room_bid_rate(room_id, r.bidder) for r in requests),
            ],
            args=args,
        )
        seq, results = int(raw[0]), raw[1]
        answers = []
        for i in range(0, len(results), 2):
            status, value = int(results[i]), as_text(results[i + 1])
            if status == 0:
                reason, _, detail = value.partition(":")
                answers.append(
                    BidAnswer(
                        0,
                        reason=reason,
                        next_bid=int(detail or 0) if reason == "bid_too_low" else 0,
                        retry_ms=int(detail or 0) if reason == "rate_limited" else 0,
                    )
                )
                continue
            taken = orjson.loads(value)
            answers.append(
                BidAnswer(
                    status,
                    seq=seq if status == 1 else 0,
                    amount=int(taken["amount"]),
                    max=int(taken["max"]),
                    leading=bool(taken["leading"]),
                    outbid=taken["outbid"] if status == 1 else "",
                    next_bid=int(taken["next_bid"]),
                    ends_at=int(taken["ends_at"]),
                )
            )
        return answers

    @guarded
    async def end(
        self, room_id: str, auction_id: str, reason: str, now: int, order_id: str, pay_ms: int
    ) -> Closing:
        raw = await self._end(
            keys=[
                *keys.auction(room_id, auction_id),
                keys.room_live_auction(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
                keys.order(room_id, order_id),
                keys.room_orders(room_id),
                keys.room_open_auctions(room_id),
                keys.room_last_auction(room_id),
            ],
            args=[reason, now, keys.room_channel(room_id), self.stream_max_len, order_id, pay_ms],
        )
        if int(raw[0]) == 1:
            order = orjson.loads(raw[3]) if raw[3] else None
            return Closing(
                True,
                "",
                seq=int(raw[1]),
                outcome=as_text(raw[2]),
                order=order,
                order_id=order["id"] if order else "",
            )
        why = as_text(raw[1])
        if why == "not_due":
            return Closing(False, why, ends_at=int(raw[2]))
        if why == "already_ended":
            return Closing(False, why, outcome=as_text(raw[2]), order_id=as_text(raw[3]))
        return Closing(False, why)

    @guarded
    async def void(
        self, room_id: str, auction_id: str, user_id: str, increments: Increments
    ) -> tuple[bool, str]:
        """(True, seq) when their bids were voided; (False, reason)."""
        raw = await self._void(
            keys=[
                *keys.auction(room_id, auction_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[user_id, increments.spec(), keys.room_channel(room_id), self.stream_max_len],
        )
        return int(raw[0]) == 1, as_text(raw[1])

    @guarded
    async def second_chance(
        self, room_id: str, auction: Auction, now: int, order_id: str, pay_ms: int
    ) -> tuple[bool, str, dict[str, Any] | None]:
        raw = await self._second_chance(
            keys=[
                *keys.auction(room_id, auction.id),
                keys.order(room_id, auction.order_id),
                keys.order(room_id, order_id),
                keys.room_orders(room_id),
            ],
            args=[now, order_id, pay_ms],
        )
        if int(raw[0]) == 0:
            return False, as_text(raw[1]), None
        return True, "", orjson.loads(raw[1])

    @guarded
    async def pay(
        self, room_id: str, order_id: str, buyer: str, now: int, shipping: Any, payment: Any
    ) -> tuple[int, str, dict[str, Any] | None]:
        """(status, reason, order): 1 paid now, 2 paid before, 0 refused with a reason."""
        raw = await self._pay(
            keys=[keys.order(room_id, order_id)],
            args=[now, buyer, orjson.dumps(shipping), orjson.dumps(payment)],
        )
        if int(raw[0]) == 0:
            return 0, as_text(raw[1]), None
        return int(raw[0]), "", orjson.loads(raw[1])

    @guarded
    async def lapse(self, room_id: str, order_id: str, now: int) -> tuple[bool, str, Any]:
        """(True, '', order) lapsed now; (False, why, pay_by or None) otherwise."""
        raw = await self._lapse(keys=[keys.order(room_id, order_id)], args=[now])
        if int(raw[0]) == 1:
            return True, "", orjson.loads(raw[1])
        return False, as_text(raw[1]), int(raw[2]) if len(raw) > 2 else None

    # The process-wide sets the tickers visit -------------------------------------------

    async def due(self, index: str, now: int, limit: int = 100) -> list[tuple[str, str, int]]:
        """Members of ``index`` due by ``now`` as (room, id, score), soonest first."""
        return await self.schedules[index].due(now, limit)

    async def reschedule(
        self, index: str, room_id: str, thing_id: str, at: int, *, nx: bool = False
    ) -> bool:
        """Whether the member was added (it was not in the set)."""
        return await self.schedules[index].put(room_id, thing_id, at, nx=nx)

    async def done(self, index: str, room_id: str, thing_id: str) -> None:
        await self.schedules[index].done(room_id, thing_id)

    @guarded
    async def note_bidders(self, room_id: str, auction_id: str, bidders: Sequence[str]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for bidder in bidders:
                pipe.sadd(keys.user_bids(bidder), f"{room_id} {auction_id}")
            await pipe.execute()

    @guarded
    async def lots_of_bidder(self, user_id: str, limit: int) -> list[tuple[str, str]]:
        members: Any = await self.client.srandmember(keys.user_bids(user_id), limit)
        return [(room, lot) for room, _, lot in (as_text(m).partition(" ") for m in members or [])]

    @guarded
    async def strike(self, user_id: str) -> int:
        return int(await self.client.hincrby(keys.auction_strikes(), user_id, 1))

    @guarded
    async def strikes(self, user_ids: Sequence[str]) -> list[int]:
        if not user_ids:
            return []
        rows = await self.client.hmget(keys.auction_strikes(), list(user_ids))
        return [int(r or 0) for r in rows]
