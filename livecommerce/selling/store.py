"""The reservation engine's store: each step one Lua script, read into typed answers.

Every answer carries the sale's stock after the step, so callers can announce it, and the
holds the step offered to waitlisted buyers, so callers can tell them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from livecommerce.errors import NotFound
from livecommerce.events import SaleEnded, SaleStarted
from livecommerce.runtime.ids import OrderId
from livecommerce.selling.rules import Hold, Sale, Stock, refusal, sale_from_hash
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded, pack_event
from livecommerce.store.scripts import Scripts


@dataclass(frozen=True, slots=True)
class Answer:
    """One engine step: ``status`` 1 done now, 2 done before (a retry), 0 refused."""

    status: int
    reason: str = ""
    hold: Hold | None = None
    stock: Stock = field(default_factory=lambda: Stock(0, 0, 0))
    offers: list[Hold] = field(default_factory=list)
    retry_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status != 0


def _stock(values: list[Any]) -> Stock:
    return Stock(*(int(v or 0) for v in values))


def _answer(raw: list[Any]) -> Answer:
    status, value = int(raw[0]), raw[1]
    stock = _stock(raw[2:5])
    offers = [Hold.from_json(o) for o in raw[5:]]
    if status == 0:
        return Answer(0, reason=as_text(value), stock=stock, offers=offers)
    return Answer(status, hold=Hold.from_json(value), stock=stock, offers=offers)


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    user_id: str
    quantity: int
    key: str
    hold_id: str


@dataclass(frozen=True, slots=True)
class BuyerPart:
    """One buyer in one sale: the holds they have open and the units they have bought."""

    sale_id: str
    bought: int
    holds: list[Hold]


@dataclass(frozen=True, slots=True)
class Confirmation:
    status: int
    reason: str
    order_id: OrderId
    stock: Stock
    sale_ended: bool
    seq: int


class SalesStore:
    def __init__(self, client: Redis, scripts: Scripts, *, stream_max_len: int) -> None:
        self.client = client
        self.scripts = scripts
        self.stream_max_len = stream_max_len
        self._rooms: dict[str, str] = {}

    @guarded
    async def room_of(self, sale_id: str) -> str:
        """The room a sale runs in; immutable, so cached for the life of the process."""
        room_id = self._rooms.get(sale_id)
        if room_id is None:
            raw = await self.client.hget(keys.sale_rooms(), sale_id)
            if raw is None:
                raise NotFound(f"sale {sale_id[:80]} does not exist")
            room_id = self._rooms[sale_id] = as_text(raw)
        return room_id

    @guarded
    async def start(self, sale: Sale, event: SaleStarted) -> int:
        """Write the sale and announce it; the room's seq of ``sale.started``, or 0 if refused."""
        flat: list[str] = []
        for name, value in sale.to_hash().items():
            flat += [name, value]
        await self.client.hset(keys.sale_rooms(), sale.id, sale.room_id)
        self._rooms[sale.id] = sale.room_id
        status, value = await self.scripts.sale_start(
            keys=[
                keys.sale_hash(sale.room_id, sale.id),
                keys.room(sale.room_id),
                keys.room_sales(sale.room_id),
                keys.room_seq(sale.room_id),
                keys.room_events(sale.room_id),
            ],
            args=[
                sale.starts_at,
                keys.room_channel(sale.room_id),
                self.stream_max_len,
                pack_event(event),
                *flat,
            ],
        )
        if int(status) == 0:
            raise refusal(as_text(value))
        await self.client.zadd(keys.active_sales(), {f"{sale.room_id} {sale.id}": sale.ends_at})
        return int(value)

    @guarded
    async def end(
        self, room_id: str, sale_id: str, reason: str, now: int, event: SaleEnded
    ) -> tuple[bool, str]:
        """End an active sale once; (True, seq) when this call ended it, else (False, why)."""
        status, value = await self.scripts.sale_end(
            keys=[
                keys.sale_hash(room_id, sale_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[reason, now, keys.room_channel(room_id), self.stream_max_len, pack_event(event)],
        )
        if int(status) == 1:
            # Due now: the ticker reaps its last holds and then lets it go.
            await self.client.zadd(keys.active_sales(), {f"{room_id} {sale_id}": now})
        elif as_text(value) == "not_found":
            await self.client.zrem(keys.active_sales(), f"{room_id} {sale_id}")
        return int(status) == 1, as_text(value)

    @guarded
    async def forget(self, room_id: str, sale_id: str) -> None:
        """An ended sale with no holds left needs no more visits."""
        await self.client.zrem(keys.active_sales(), f"{room_id} {sale_id}")

    @guarded
    async def sale(self, room_id: str, sale_id: str) -> Sale:
        raw = await self.client.hgetall(keys.sale_hash(room_id, sale_id))
        if not raw:
            raise NotFound(f"sale {sale_id[:80]} does not exist")
        return sale_from_hash(as_strings(raw))

    @guarded
    async def room_sales(self, room_id: str, *, active_only: bool, limit: int = 20) -> list[Sale]:
        ids = await self.client.zrevrange(keys.room_sales(room_id), 0, limit - 1)
        async with self.client.pipeline(transaction=False) as pipe:
            for sale_id in ids:
                pipe.hgetall(keys.sale_hash(room_id, as_text(sale_id)))
            rows = await pipe.execute()
        sales = [sale_from_hash(as_strings(row)) for row in rows if row]
        if active_only:
            sales = [s for s in sales if s.state == "active"]
        return sales

    @guarded
    async def due(self, now: int, limit: int = 100) -> list[tuple[str, str, int]]:
        """Active sales as (room, sale, ends_at), soonest end first, for enders and reapers."""
        rows: list[Any] = await self.client.zrange(
            keys.active_sales(), 0, limit - 1, withscores=True
        )
        found = []
        for member, score in rows:
            room_id, _, sale_id = as_text(member).partition(" ")
            found.append((room_id, sale_id, int(score)))
        return found

    async def reserve(
        self,
        room_id: str,
        sale_id: str,
        user_id: str,
        quantity: int,
        key: str,
        hold_id: str,
        now: int,
    ) -> Answer:
        request = ReserveRequest(user_id, quantity, key, hold_id)
        return (await self.reserve_many(room_id, sale_id, [request], now))[0]

    @guarded
    async def reserve_many(
        self,
        room_id: str,
        sale_id: str,
        requests: Sequence[ReserveRequest],
        now: int,
        rate: tuple[int, int] = (0, 1),
        hold_cap: int = 0,
    ) -> list[Answer]:
        """One script call for many buyers of one sale, answered in order as if one by one.

        Every answer carries the stock after the whole batch; the waitlist offers the batch's
        reaping made ride on the first answer only, so they are told once.
        """
        args: list[Any] = [now, *rate, hold_cap]
        for r in requests:
            args += [r.user_id, r.quantity, r.key, r.hold_id]
        raw = await self.scripts.sale_reserve(
            keys=[
                *keys.sale(room_id, sale_id),
                keys.sale_idempotency(room_id, sale_id),
                *(keys.room_reserve_rate(room_id, r.user_id) for r in requests),
            ],
            args=args,
        )
        stock = _stock(raw[0:3])
        offers = [Hold.from_json(o) for o in raw[3]]
        results = raw[4]
        answers = []
        for i in range(0, len(results), 2):
            status, value = int(results[i]), results[i + 1]
            extra = offers if i == 0 else []
            if status == 0:
                reason, _, wait = as_text(value).partition(":")
                answers.append(
                    Answer(0, reason=reason, stock=stock, offers=extra, retry_ms=int(wait or 0))
                )
            else:
                answers.append(
                    Answer(status, hold=Hold.from_json(value), stock=stock, offers=extra)
                )
        return answers

    @guarded
    async def release(
        self, room_id: str, sale_id: str, hold_id: str, user_id: str, now: int
    ) -> Answer:
        raw = await self.scripts.sale_release(
            keys=keys.sale(room_id, sale_id), args=[hold_id, user_id, now]
        )
        return _answer(raw)

    @guarded
    async def reap(
        self, room_id: str, sale_id: str, now: int, limit: int = 500
    ) -> tuple[int, Stock, list[Hold]]:
        raw = await self.scripts.sale_reap(keys=keys.sale(room_id, sale_id), args=[now, limit])
        return int(raw[0]), _stock(raw[1:4]), [Hold.from_json(o) for o in raw[4:]]

    @guarded
    async def waitlist(
        self, room_id: str, sale_id: str, user_id: str, quantity: int, now: int
    ) -> tuple[int, str]:
        """(1, position) on the list, (2, '') left, (0, reason) refused."""
        status, value = await self.scripts.sale_waitlist(
            keys=keys.sale(room_id, sale_id), args=[user_id, quantity, now]
        )
        return int(status), as_text(value)

    @guarded
    async def hold(self, room_id: str, sale_id: str, hold_id: str) -> Hold:
        raw = await self.client.hget(keys.sale_holds(room_id, sale_id), hold_id)
        if raw is None:
            raise NotFound(f"reservation {hold_id[:80]} does not exist")
        return Hold.from_json(raw)

    @guarded
    async def confirm(
        self,
        room_id: str,
        sale_id: str,
        hold_id: str,
        user_id: str,
        now: int,
        order_id: str,
        order_json: str,
        ended_event: SaleEnded,
    ) -> Confirmation:
        raw = await self.scripts.sale_confirm(
            keys=[
                *keys.sale(room_id, sale_id),
                keys.order(room_id, order_id),
                keys.room_orders(room_id),
                keys.room_seq(room_id),
                keys.room_events(room_id),
            ],
            args=[
                hold_id,
                user_id,
                now,
                order_id,
                order_json,
                keys.room_channel(room_id),
                self.stream_max_len,
                pack_event(ended_event),
            ],
        )
        status = int(raw[0])
        stock = _stock(raw[2:5])
        if status == 0:
            return Confirmation(0, as_text(raw[1]), OrderId(""), stock, False, 0)
        ended = bool(int(raw[5]))
        if ended:  # sold out: due now, so the ticker settles it and frees its product
            await self.client.zadd(keys.active_sales(), {f"{room_id} {sale_id}": now})
        return Confirmation(status, "", OrderId(as_text(raw[1])), stock, ended, int(raw[6]))

    @guarded
    async def open_holds_of(self, room_id: str, user_id: str) -> list[Hold]:
        """A person's open holds in a room's active sales, for the moderators' user panel."""
        found: list[Hold] = []
        for sale in await self.room_sales(room_id, active_only=True):
            holds = keys.sale_holds(room_id, sale.id)
            async for _, raw in self.client.hscan_iter(holds, count=500):
                hold = Hold.from_json(raw)
                if hold.user_id == user_id and hold.state == "held":
                    found.append(hold)
        return found

    @guarded
    async def buyer_parts(self, room_id: str, user_id: str, recent: int = 10) -> list[BuyerPart]:
        """Where one buyer stands in the room's most recent sales, for their own welcome.

        Three round trips whatever the sale's size: the ids of their open holds are kept
        next to their counts ("<user>:o", see _sale.lua), so no sale's holds are scanned.
        A hold past its expiry that the reaper has not reached yet is still among them.
        """
        ids = [
            as_text(i) for i in await self.client.zrevrange(keys.room_sales(room_id), 0, recent - 1)
        ]
        if not ids:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for sale_id in ids:
                pipe.hmget(keys.sale_users(room_id, sale_id), [f"{user_id}:b", f"{user_id}:o"])
            rows = await pipe.execute()
        wanted = [
            (sale_id, hold_id)
            for sale_id, (_, open_ids) in zip(ids, rows, strict=True)
            for hold_id in as_text(open_ids or b"").split()
        ]
        found: dict[str, list[Hold]] = {}
        if wanted:
            async with self.client.pipeline(transaction=False) as pipe:
                for sale_id, hold_id in wanted:
                    pipe.hget(keys.sale_holds(room_id, sale_id), hold_id)
                raws = await pipe.execute()
            for (sale_id, _), raw in zip(wanted, raws, strict=True):
                if raw is not None:
                    found.setdefault(sale_id, []).append(Hold.from_json(raw))
        parts = []
        for sale_id, (bought, _) in zip(ids, rows, strict=True):
            holds = [h for h in found.get(sale_id, []) if h.user_id == user_id]
            if holds or bought:
                parts.append(BuyerPart(sale_id, int(bought or 0), holds))
        return parts

    @guarded
    async def user_counts(self, room_id: str, sale_id: str, user_id: str) -> tuple[int, int]:
        held, bought = await self.client.hmget(
            keys.sale_users(room_id, sale_id), [f"{user_id}:h", f"{user_id}:b"]
        )
        return int(held or 0), int(bought or 0)
