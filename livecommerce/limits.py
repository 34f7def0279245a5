"""Abuse limits: how often one account, or one address when no account is known yet, may act.

Limits are GCRA in Redis (``store/rate_limit.lua``), so they hold across every process, and
they slow a subject down instead of locking it out. Addresses are only limited where no
account is known (signing up, signing in, joining as a guest), and generously: hundreds of
real buyers can sit behind one mobile carrier's NAT, so an address limit stops scripts
without stopping a crowd. Every limit is a setting and every refusal is counted in
``livecommerce_rate_limited{limit}``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from livecommerce import metrics
from livecommerce.errors import BadRequest, RateLimited
from livecommerce.store.redis_store import Store, guarded

PREFIX = "lc:limit"


@dataclass(frozen=True, slots=True)
class Limit:
    """``per_minute`` on average, with bursts of ``burst``; 0 turns the limit off."""

    name: str
    per_minute: float
    burst: int

    @property
    def interval_ms(self) -> int:
        return max(1, int(60_000 / self.per_minute))

    @classmethod
    def parse(cls, name: str, spec: str) -> Limit:
        """``"30/10"``: 30 a minute with bursts of 10; ``"0"``: no limit."""
        rate, _, burst = spec.partition("/")
        try:
            per_minute = float(rate)
            bursts = int(burst) if burst else max(1, int(per_minute))
        except ValueError:
            raise BadRequest(f"limit {name}: {spec!r} is not <per minute>/<burst>") from None
        if per_minute < 0 or bursts < 1:
            raise BadRequest(f"limit {name}: {spec!r} must be positive")
        return cls(name, per_minute, bursts)


def client_address(peer: str, forwarded: str | None, *, trust_forwarded: bool) -> str:
    """Who is asking, for limits where no account is known yet.

    Behind the operator's own proxy (``--trust-forwarded``) that is the last address in
    X-Forwarded-For, the one the proxy saw; the earlier ones are the client's to forge.
    """
    if trust_forwarded and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()[:64]
    return peer


class Limiter:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._script = store.client.register_script(_source())

    async def check(self, limit: Limit, subject: str) -> None:
        """Count one action of ``subject`` under ``limit``, or refuse it with a retry hint."""
        if limit.per_minute == 0:
            return
        allowed, retry_ms = await self._step(limit, subject)
        if not allowed:
            metrics.RATE_LIMITED.labels(limit.name).inc()
            raise RateLimited(
                "too many attempts; try again shortly", retry_after=max(retry_ms, 1) / 1000
            )

    @guarded
    async def _step(self, limit: Limit, subject: str) -> tuple[bool, int]:
        # Subjects (addresses, usernames) are hashed: keys never carry personal data.
        digest = hashlib.blake2b(subject.encode(), digest_size=12).hexdigest()
        key = f"{PREFIX}:{limit.name}:{digest}"
        now = int(self.clock() * 1000)
        status, retry = await self._script(keys=[key], args=[now, limit.interval_ms, limit.burst])
        return int(status) == 1, int(retry)


def _source() -> str:
    from livecommerce.store.scripts import source

    return source("rate_limit")
