"""Webhook endpoints, deliveries and the delivery log in Redis.

Keys (built in store/keys.py)::

    lc:{w:<creator>}:endpoints   hash    endpoint id -> endpoint JSON (with its secret)
    lc:{w:<creator>}:log         stream  one entry per attempt, newest last, capped
    lc:webhooks:due              zset    delivery id scored by when it is due (ms)
    lc:webhooks:delivery:<id>    hash    a delivery's state: creator, endpoint, body, attempts

A delivery lives in the due set until it is delivered or given up; a dispatcher leases it
by moving its score forward (``webhook_claim.lua``) while it sends it. Every step touches
either one creator's keys or one delivery's, so nothing here needs keys in one slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from livecommerce.errors import Conflict, NotFound
from livecommerce.runtime.ids import Ids
from livecommerce.store import keys
from livecommerce.store.connection import guarded
from livecommerce.store.scripts import register
from livecommerce.webhooks.rules import MAX_ENDPOINTS, Endpoint, WebhookEvent

LOG_MAX_LEN = 1000
ERROR_MAX = 200


def as_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one endpoint."""

    id: str
    creator_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    body: bytes
    attempts: int
    created_at: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST of a delivery, as the log keeps it. ``status`` is None on a network error."""

    delivery_id: str
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int
    status: int | None
    error: str
    duration_ms: int
    at: int
    outcome: str  # "delivered", "retrying" or "gave_up"
    next_at: int | None = None

    def to_public(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error or None,
            "duration_ms": self.duration_ms,
            "at": self.at,
            "outcome": self.outcome,
            "next_at": self.next_at,
        }

    def to_fields(self) -> dict[str, str | int]:
        return {
            "delivery_id": self.delivery_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "attempt": self.attempt,
            "status": "" if self.status is None else self.status,
            "error": self.error[:ERROR_MAX],
            "duration_ms": self.duration_ms,
            "at": self.at,
            "outcome": self.outcome,
            "next_at": "" if self.next_at is None else self.next_at,
        }

    @classmethod
    def from_fields(cls, raw: dict[Any, Any]) -> Attempt:
        f = {as_text(k): as_text(v) for k, v in raw.items()}
        return cls(
            delivery_id=f["delivery_id"],
            event_id=f["event_id"],
            event_type=f["event_type"],
            endpoint_id=f["endpoint_id"],
            url=f["url"],
            attempt=int(f["attempt"]),
            status=int(f["status"]) if f["status"] else None,
            error=f["error"],
            duration_ms=int(f["duration_ms"]),
            at=int(f["at"]),
            outcome=f["outcome"],
            next_at=int(f["next_at"]) if f["next_at"] else None,
        )


class WebhookStore:
    def __init__(
        self, client: Redis, *, log_max_len: int = LOG_MAX_LEN, ids: Ids | None = None
    ) -> None:
        self.client = client
        self.ids = ids or Ids()
        self.log_max_len = log_max_len
        self._claim: AsyncScript = register(client, "webhook_claim")

    # Endpoints -------------------------------------------------------------------------

    @guarded
    async def add_endpoint(self, creator_id: str, endpoint: Endpoint) -> None:
        key = keys.webhook_endpoints(creator_id)
        if await self.client.hlen(key) >= MAX_ENDPOINTS:
            raise Conflict(f"a creator may have at most {MAX_ENDPOINTS} webhook endpoints")
        if not await self.client.hsetnx(key, endpoint.id, endpoint.to_json()):
            raise Conflict(f"webhook endpoint {endpoint.id} exists")

    @guarded
    async def endpoints(self, creator_id: str) -> list[Endpoint]:
        """The creator's endpoints, oldest first."""
        raw = await self.client.hvals(keys.webhook_endpoints(creator_id))
        return sorted((Endpoint.from_json(r) for r in raw), key=lambda e: (e.created_at, e.id))

    @guarded
    async def endpoint(self, creator_id: str, endpoint_id: str) -> Endpoint:
        found = await self._endpoint(creator_id, endpoint_id)
        if found is None:
            raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
        return found

    async def _endpoint(self, creator_id: str, endpoint_id: str) -> Endpoint | None:
        raw = await self.client.hget(keys.webhook_endpoints(creator_id), endpoint_id)
        return None if raw is None else Endpoint.from_json(raw)

    @guarded
    async def remove_endpoint(self, creator_id: str, endpoint_id: str) -> None:
        """Remove it; deliveries still queued for it are dropped when they come due."""
        if not await self.client.hdel(keys.webhook_endpoints(creator_id), endpoint_id):
            raise NotFound(f"webhook endpoint {endpoint_id} does not exist")

    # Deliveries ------------------------------------------------------------------------

    @guarded
    async def enqueue(
        self,
        creator_id: str,
        event: WebhookEvent,
        now_ms: int,
        *,
        settle: tuple[str, str] | None = None,
    ) -> list[str]:
        """One delivery, due now, per endpoint of the creator that wants this event type.

        ``settle`` (a sorted set and a member) is removed once the deliveries are queued, for
        work that must queue its event once (follows/store.py's notices). The two live in
        different slots, so this is two steps made safe to repeat: the deliveries' ids derive
        from the event and the endpoint, and one already queued is left as it is. A process
        that dies between the steps leaves the work to be claimed again, which queues
        nothing new."""
        endpoints = [e for e in await self.endpoints(creator_id) if e.wants(event.type)]
        if not endpoints:
            if settle is not None:
                await self.client.zrem(*settle)
            return []
        body = event.to_json()
        if settle is None:
            ids: list[str] = [self.ids.delivery() for _ in endpoints]
            fresh = list(zip(ids, endpoints, strict=True))
        else:
            ids = [delivery_for(event.id, endpoint.id) for endpoint in endpoints]
            async with self.client.pipeline(transaction=False) as pipe:
                for delivery_id in ids:
                    pipe.exists(keys.webhook_delivery(delivery_id))
                queued = await pipe.execute()
            fresh = [
                (delivery_id, endpoint)
                for delivery_id, endpoint, there in zip(ids, endpoints, queued, strict=True)
                if not there
            ]
        async with self.client.pipeline(transaction=False) as pipe:
            for delivery_id, endpoint in fresh:
                pipe.hset(
                    keys.webhook_delivery(delivery_id),
                    mapping={
                        "creator_id": creator_id,
                        "endpoint_id": endpoint.id,
                        "event_id": event.id,
                        "event_type": str(event.type),
                        "body": body,
                        "attempts": 0,
                        "created_at": now_ms,
                    },
                )
            # State first, then the due entry: a dispatcher never claims a delivery whose
            # state is not written yet.
            if fresh:
                pipe.zadd(keys.webhooks_due(), {delivery_id: now_ms for delivery_id, _ in fresh})
                await pipe.execute()
        if settle is not None:
            await self.client.zrem(*settle)
        return ids

    @guarded
    async def claim(self, now_ms: int, lease_ms: int, count: int) -> list[str]:
        ids = await self._claim(keys=[keys.webhooks_due()], args=[now_ms, lease_ms, count])
        return [as_text(i) for i in ids]

    @guarded
    async def next_due_ms(self) -> int | None:
        """When the earliest delivery (leased ones included) is due, if any is queued."""
        first = await self.client.zrange(keys.webhooks_due(), 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    @guarded
    async def delivery(self, delivery_id: str) -> Delivery | None:
        raw = await self.client.hgetall(keys.webhook_delivery(delivery_id))
        if not raw:
            return None
        f = {as_text(k): v for k, v in raw.items()}
        return Delivery(
            id=delivery_id,
            creator_id=as_text(f["creator_id"]),
            endpoint_id=as_text(f["endpoint_id"]),
            event_id=as_text(f["event_id"]),
            event_type=as_text(f["event_type"]),
            body=f["body"] if isinstance(f["body"], bytes) else as_text(f["body"]).encode(),
            attempts=int(f["attempts"]),
            created_at=int(f["created_at"]),
        )

    @guarded
    async def endpoint_for(self, delivery: Delivery) -> Endpoint | None:
        return await self._endpoint(delivery.creator_id, delivery.endpoint_id)

    @guarded
    async def record_attempt(self, delivery: Delivery, attempt: Attempt) -> None:
        """Log the attempt, then reschedule the delivery (``next_at``) or finish it."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xadd(
                keys.webhook_log(delivery.creator_id),
                attempt.to_fields(),  # type: ignore[arg-type]
                maxlen=self.log_max_len,
                approximate=True,
            )
            if attempt.next_at is None:
                pipe.zrem(keys.webhooks_due(), delivery.id)
                pipe.delete(keys.webhook_delivery(delivery.id))
            else:
                pipe.hset(keys.webhook_delivery(delivery.id), "attempts", attempt.attempt)
                pipe.zadd(keys.webhooks_due(), {delivery.id: attempt.next_at}, xx=True)
            await pipe.execute()

    @guarded
    async def drop(self, delivery_id: str) -> None:
        """Forget a delivery that cannot be sent (its endpoint or its state is gone)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.webhooks_due(), delivery_id)
            pipe.delete(keys.webhook_delivery(delivery_id))
            await pipe.execute()

    @guarded
    async def pending(self) -> int:
        """Deliveries not yet delivered or given up, across all creators."""
        return int(await self.client.zcard(keys.webhooks_due()))

    # The log ---------------------------------------------------------------------------

    @guarded
    async def delivery_log(
        self, creator_id: str, *, limit: int = 50, endpoint_id: str | None = None
    ) -> list[Attempt]:
        """The creator's latest attempts, newest first; optionally one endpoint's only
        (filtered from the latest ``limit`` entries, so fewer may come back)."""
        entries = await self.client.xrevrange(keys.webhook_log(creator_id), count=max(1, limit))
        attempts = [Attempt.from_fields(fields) for _, fields in entries or [] if fields]
        if endpoint_id is not None:
            attempts = [a for a in attempts if a.endpoint_id == endpoint_id]
        return attempts


def delivery_for(event_id: str, endpoint_id: str) -> str:
    """The one delivery of an event to an endpoint, whoever queues it."""
    digest = hashlib.sha256(f"{event_id}|{endpoint_id}".encode()).hexdigest()
    return f"dlv_{digest[:24]}"
