"""The ledger of open charges: every charge checkout makes, until an order settles it.

Checkout writes an entry before it asks the provider to charge and removes it once the
order is written (or the charge was declined, or given back). An entry left behind means a
process died between the charge and the order; the sweeper (``charges.py``) finds it when
the hold's time is up and gives the money back unless an order uses the charge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from livecommerce.store import keys
from livecommerce.store.connection import as_text, guarded
from livecommerce.store.scripts import register


@dataclass(frozen=True, slots=True)
class OpenCharge:
    """What a charge was for: enough to find its hold and its payment again."""

    key: str  # the provider's idempotency key
    room_id: str
    sale_id: str
    hold_id: str
    buyer_id: str
    amount: int
    currency: str


class ChargeLedger:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self._claim: AsyncScript = register(client, "charge_claim")

    @guarded
    async def open(self, charge: OpenCharge, look_at: int) -> None:
        """Note a charge about to be made; the sweeper looks at it from ``look_at`` (ms)."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.open_charge_info(), charge.key, orjson.dumps(asdict(charge)))
            pipe.zadd(keys.open_charges(), {charge.key: look_at})
            await pipe.execute()

    @guarded
    async def close(self, key: str) -> None:
        """The charge is settled: an order uses it, or it took no money, or it was given back."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.open_charges(), key)
            pipe.hdel(keys.open_charge_info(), key)
            await pipe.execute()

    @guarded
    async def postpone(self, key: str, look_at: int) -> None:
        await self.client.zadd(keys.open_charges(), {key: look_at}, xx=True)

    @guarded
    async def claim(self, now: int, lease_ms: int, limit: int = 50) -> list[OpenCharge]:
        """Due entries, each leased to this caller for ``lease_ms``."""
        raw: list[Any] = await self._claim(
            keys=[keys.open_charges(), keys.open_charge_info()], args=[now, lease_ms, limit]
        )
        claimed = []
        for i in range(0, len(raw), 2):
            data = orjson.loads(raw[i + 1])
            data["key"] = as_text(raw[i])
            claimed.append(OpenCharge(**data))
        return claimed

    @guarded
    async def count(self) -> int:
        return int(await self.client.zcard(keys.open_charges()))
