"""Abuse limits: how often one account, or one address when no account is known yet, may act.

Limits are GCRA in Redis (``store/rate_limit.lua``), so they hold across every process, and
they slow a subject down instead of locking it out. Addresses are only limited where no
account is known (signing up, signing in, joining as a guest), and generously: hundreds of
real buyers can sit behind one mobile carrier's NAT, so an address limit stops scripts
without stopping a crowd. Every limit is a setting and every refusal is counted in
``livecommerce_rate_limited{limit}``.

Passwords are the exception that proves the rule: a limit per username would let anyone
lock its owner out by guessing wrong. So wrong passwords are limited per username *and*
address, and the username's own ceiling only takes bursts away while it is spent
(``sign_in_attempt``): its owner, from anywhere nobody guessed from, always gets in.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from livecommerce.errors import BadRequest, RateLimited
from livecommerce.runtime import metrics
from livecommerce.store import keys
from livecommerce.store.connection import guarded
from livecommerce.store.history import Store
from livecommerce.store.scripts import register


@dataclass(frozen=True, slots=True)
class Limit:
    """``per_minute`` on average, with bursts of ``burst``; 0 turns the limit off."""

    name: str
    per_minute: float
    burst: int

    @property
    def interval_ms(self) -> int:
        """Milliseconds between two uses at the sustained rate; 0 for no limit."""
        if self.per_minute <= 0:
            return 0
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


@dataclass(frozen=True, slots=True)
class SignInTicket:
    """What ``sign_in_attempt`` counted, for ``sign_in_succeeded`` to take back."""

    here: str
    anywhere: str
    anywhere_interval_ms: int
    counted: bool = False  # the attempt was counted at all (some limit is on)
    counted_anywhere: bool = False


class Limiter:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._script = register(store.client, "rate_limit")
        self._attempt = register(store.client, "signin_attempt")
        self._succeeded = register(store.client, "signin_succeeded")

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

    async def sign_in_attempt(
        self, here: Limit, anywhere: Limit, username: str, address: str
    ) -> SignInTicket:
        """Count one password attempt for ``username`` from ``address`` as a failure, or refuse.

        ``here`` limits failures per username and address: whoever guesses is slowed, and
        only where they are. ``anywhere`` is the username's ceiling across all addresses; it
        never refuses on its own (that would let anyone lock the owner out) but, while it
        is spent, takes every address's burst away (see ``signin_attempt.lua``).
        """
        user = _digest(username)
        ticket = SignInTicket(
            here=keys.limit_for_user_at(here.name, user, _digest(address)),
            anywhere=keys.limit_for_user(anywhere.name, user),
            anywhere_interval_ms=_interval(anywhere),
        )
        if here.per_minute == 0 and anywhere.per_minute == 0:
            return ticket
        allowed, detail = await self._sign_in_step(ticket, here, anywhere)
        if not allowed:
            metrics.RATE_LIMITED.labels(here.name).inc()
            raise RateLimited(
                "too many wrong passwords from here; try again shortly",
                retry_after=max(detail, 1) / 1000,
            )
        return replace(ticket, counted=True, counted_anywhere=detail == 1)

    @guarded
    async def _sign_in_step(
        self, ticket: SignInTicket, here: Limit, anywhere: Limit
    ) -> tuple[bool, int]:
        now = int(self.clock() * 1000)
        args = [now, _interval(here), here.burst, ticket.anywhere_interval_ms, anywhere.burst]
        status, detail = await self._attempt(keys=[ticket.here, ticket.anywhere], args=args)
        return int(status) == 1, int(detail)

    @guarded
    async def sign_in_succeeded(self, ticket: SignInTicket) -> None:
        """The password was right: the attempt was no failure after all."""
        if not ticket.counted:
            return
        now = int(self.clock() * 1000)
        counted = 1 if ticket.counted_anywhere else 0
        await self._succeeded(
            keys=[ticket.here, ticket.anywhere],
            args=[now, ticket.anywhere_interval_ms, counted],
        )

    @guarded
    async def _step(self, limit: Limit, subject: str) -> tuple[bool, int]:
        key = keys.limit(limit.name, _digest(subject))
        now = int(self.clock() * 1000)
        status, retry = await self._script(keys=[key], args=[now, limit.interval_ms, limit.burst])
        return int(status) == 1, int(retry)


def _digest(subject: str) -> str:
    """Subjects (addresses, usernames) are hashed: keys never carry personal data."""
    return hashlib.blake2b(subject.encode(), digest_size=12).hexdigest()


def _interval(limit: Limit) -> int:
    """The limit's interval, or 0 for a limit that is off."""
    return 0 if limit.per_minute == 0 else limit.interval_ms
