"""Payments: the provider interface, card validation and the built-in sandbox provider.

Checkout talks to a ``PaymentProvider``; the one shipped here is ``TestPaymentProvider``, a
sandbox that behaves like Stripe's test cards so a newcomer can buy without an account
anywhere::

    4242424242424242   paid
    4000000000000002   declined   card_declined
    4000000000009995   declined   insufficient_funds
    4000000000000119   failed     processing_error   (after a delay, 2 s by default)
    4000000000000077   paid       (charged at once, but the answer takes 2 s to come back:
                                   a process that dies meanwhile leaves a charge, no order)
    4000000000000341   authorised, but declined when captured   card_declined
    any other number   paid       (if it passes the Luhn check)

Authorisations (a group buy's join) hold an amount on the card without taking it:
``authorise`` is idempotent per key exactly as ``charge`` is (the same claim, and the same
cards decline), and the authorisation's state lives under its reference: ``authorised ->
captured | voided``. ``capture`` and ``void`` are one optimistic transaction each on that
state, so whichever callers race, a hold is captured or voided once: capturing a captured
authorisation (or voiding a voided one) returns the first result, whatever key it comes
with; capturing a voided one, or voiding a captured one, is refused (``AuthorisationSettled``).
A captured authorisation is a payment like a charge, refundable under the same reference.

A card number is only ever held by ``CardDetails`` on its way to the provider: its repr
shows the brand and the last four digits, and nothing here stores or logs more.

Idempotency: a charge is claimed under ``lc:pay:<idempotency key>`` with ``SET NX`` before
anything is charged, so two concurrent calls with one key charge once; the second waits
for the first's result. A process that dies mid-charge leaves a claim that lapses after
``CLAIM_LEASE_S``; a retry after that charges afresh, as it would against a real provider
that never heard of the first attempt. A charge and its settled result are written in one
transaction, so ``charge_of(key)`` knows of every charge that was made. Refunds are
idempotent per payment: each refund's
result is kept in the payment's hash under its key, written in one optimistic transaction
with the refunded total, so concurrent refunds can never add up to more than was charged.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol

import orjson
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from livecommerce.currencies import AMOUNT_MAX, MINOR_UNITS
from livecommerce.errors import (
    BadRequest,
    Conflict,
    IdempotencyKeyReused,
    LiveCommerceError,
    NotFound,
    Unavailable,
)
from livecommerce.numbers import digits
from livecommerce.store import keys
from livecommerce.store.connection import guarded

PaymentStatus = Literal["paid", "declined", "failed"]
AuthorisationStatus = Literal["authorised", "declined", "failed"]
RefundStatus = Literal["refunded", "failed"]
Sleep = Callable[[float], Awaitable[None]]

IDEMPOTENCY_TTL_S = 7 * 24 * 3600
PAYMENT_TTL_S = 180 * 24 * 3600
CLAIM_LEASE_S = 60
WAIT_FOR_CLAIM_S = 30.0
IDEMPOTENCY_KEY_MAX = 255
HOLDER_NAME_MAX = 100
EXPIRY_YEARS_MAX = 20
WHOLE_DIGITS_MAX = 6  # an expiry month or year, with room for leading zeros

_DIGITS = re.compile(r"^[0-9]+$")
_SEPARATORS = re.compile(r"[ -]")


class PaymentDeclined(Conflict):
    """The card was refused; ``decline_code`` says why (``card_declined``, ...)."""

    code: ClassVar[str] = "payment_declined"
    status: ClassVar[int] = 402
    title: ClassVar[str] = "Payment declined"


class PaymentFailed(LiveCommerceError):
    """The provider could not process the payment; trying again later may work."""

    code: ClassVar[str] = "payment_failed"
    status: ClassVar[int] = 502
    title: ClassVar[str] = "Payment failed"


class AuthorisationSettled(Conflict):
    """A capture of a voided authorisation, or a void of a captured one."""

    code: ClassVar[str] = "authorisation_settled"
    title: ClassVar[str] = "The authorisation was captured or voided already"


# Cards ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardDetails:
    """A validated card. ``number`` is for the provider call only and never in the repr."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder_name: str | None = None
    number: str = field(default="", repr=False, compare=False)

    def to_public(self) -> dict[str, Any]:
        """What an order may keep and show: everything but the number."""
        return {
            "brand": self.brand,
            "last4": self.last4,
            "exp_month": self.exp_month,
            "exp_year": self.exp_year,
        }


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str:
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649:
        return "discover"
    return "unknown"


def _whole(value: object) -> int | None:
    """An int from a JSON int or a string of digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return digits(value.strip(), WHOLE_DIGITS_MAX)
    return None


def parse_card(body: object, *, now: float) -> CardDetails:
    """A ``CardDetails`` from a checkout's ``payment`` object, or ``BadRequest`` saying why.

    ``now`` is Unix time in seconds (the server's clock); a card is good through the last
    day of its expiry month, in UTC. Error messages never repeat the number.
    """
    if not isinstance(body, Mapping):
        raise BadRequest("'payment' must be a JSON object")
    raw_number = body.get("card_number")
    if not isinstance(raw_number, str):
        raise BadRequest("'card_number' must be a string of digits")
    number = _SEPARATORS.sub("", raw_number)
    if not _DIGITS.match(number):
        raise BadRequest("'card_number' must hold only digits (spaces and '-' are ignored)")
    if not 12 <= len(number) <= 19:
        raise BadRequest("'card_number' must have 12 to 19 digits")
    if not luhn_valid(number):
        raise BadRequest("'card_number' is not a valid card number (the check digit is wrong)")

    exp_month = _whole(body.get("exp_month"))
    if exp_month is None or not 1 <= exp_month <= 12:
        raise BadRequest("'exp_month' must be a whole number from 1 to 12")
    exp_year = _whole(body.get("exp_year"))
    if exp_year is None:
        raise BadRequest("'exp_year' must be a whole number, such as 2031")
    if exp_year < 100:
        exp_year += 2000
    today = datetime.fromtimestamp(now, UTC)
    if (exp_year, exp_month) < (today.year, today.month):
        raise BadRequest(f"the card expired at the end of {exp_month:02d}/{exp_year}")
    if exp_year > today.year + EXPIRY_YEARS_MAX:
        raise BadRequest(f"'exp_year' must be at most {EXPIRY_YEARS_MAX} years ahead")

    cvc = body.get("cvc")
    if not isinstance(cvc, str) or not _DIGITS.match(cvc) or not 3 <= len(cvc) <= 4:
        raise BadRequest("'cvc' must be a string of 3 or 4 digits")

    holder = body.get("holder_name")
    if holder is not None:
        if not isinstance(holder, str) or len(holder.strip()) > HOLDER_NAME_MAX:
            raise BadRequest(f"'holder_name' must be a string of at most {HOLDER_NAME_MAX}")
        if any(not c.isprintable() for c in holder):
            raise BadRequest("'holder_name' holds control or invisible characters")
        holder = holder.strip() or None
    return CardDetails(
        brand=card_brand(number),
        last4=number[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        holder_name=holder,
        number=number,
    )


# Results and the interface ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaymentResult:
    status: PaymentStatus
    payment_ref: str
    decline_code: str | None = None
    message: str = ""

    @property
    def paid(self) -> bool:
        return self.status == "paid"

    def require_paid(self) -> PaymentResult:
        """This result if paid; else ``PaymentDeclined`` or ``PaymentFailed`` for the edges."""
        if self.status == "declined":
            raise PaymentDeclined(
                self.message or "the card was declined", decline_code=self.decline_code
            )
        if self.status == "failed":
            raise PaymentFailed(
                self.message or "the payment could not be processed",
                decline_code=self.decline_code,
            )
        return self


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: RefundStatus
    refund_ref: str
    payment_ref: str
    amount: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class AuthorisationResult:
    status: AuthorisationStatus
    authorisation_ref: str
    decline_code: str | None = None
    message: str = ""

    @property
    def authorised(self) -> bool:
        return self.status == "authorised"

    def require_authorised(self) -> AuthorisationResult:
        """This result if authorised; else ``PaymentDeclined`` or ``PaymentFailed``."""
        if self.status == "declined":
            raise PaymentDeclined(
                self.message or "the card was declined", decline_code=self.decline_code
            )
        if self.status == "failed":
            raise PaymentFailed(
                self.message or "the payment could not be processed",
                decline_code=self.decline_code,
            )
        return self


class PaymentProvider(Protocol):
    """What checkout and group buys need from a payment provider; every call is idempotent
    by its key (capture and void also by the authorisation's own state)."""

    async def charge(
        self,
        *,
        amount: int,
        currency: str,
        card: CardDetails,
        idempotency_key: str,
        description: str,
    ) -> PaymentResult: ...

    async def refund(
        self, *, payment_ref: str, amount: int, idempotency_key: str
    ) -> RefundResult: ...

    async def charge_of(self, idempotency_key: str) -> PaymentResult | None:
        """The charge made under this key, or None if none was; ``Unavailable`` while one is
        under way. What the sweeper asks about a charge whose answer was lost."""
        ...

    async def authorise(
        self, *, amount: int, currency: str, card: CardDetails, idempotency_key: str
    ) -> AuthorisationResult:
        """Hold ``amount`` on the card without taking it."""
        ...

    async def authorisation_of(self, idempotency_key: str) -> AuthorisationResult | None:
        """The authorisation made under this key, or None; ``Unavailable`` while under way."""
        ...

    async def capture(self, *, authorisation_ref: str, idempotency_key: str) -> PaymentResult:
        """Take the amount held: ``paid`` (the payment's ref is the authorisation's) or
        ``declined``; a voided authorisation is refused with ``AuthorisationSettled``."""
        ...

    async def void(self, *, authorisation_ref: str, idempotency_key: str) -> str:
        """Let the hold go: ``"voided"``; a captured one is refused (``AuthorisationSettled``)."""
        ...


# The sandbox ---------------------------------------------------------------------------

# number -> (status, decline code, message)
TEST_CARDS: dict[str, tuple[PaymentStatus, str | None, str]] = {
    "4242424242424242": ("paid", None, ""),
    "4000000000000002": ("declined", "card_declined", "the card was declined"),
    "4000000000009995": ("declined", "insufficient_funds", "the card has insufficient funds"),
    "4000000000000119": ("failed", "processing_error", "the card could not be processed"),
}
_SLOW_STATUS = "failed"
DECLINES_AT_CAPTURE = "4000000000000341"  # authorised, then declined when captured
SLOW_ANSWER = "4000000000000077"  # paid at once; the answer comes back late


def _check_key(idempotency_key: str) -> None:
    if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise BadRequest(f"the idempotency key must be a string of 1 to {IDEMPOTENCY_KEY_MAX}")
    if not idempotency_key.isprintable():
        raise BadRequest("the idempotency key holds control characters")


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= AMOUNT_MAX:
        raise BadRequest(f"the amount must be a whole number from 1 to {AMOUNT_MAX}")


def _fingerprint(*parts: object) -> str:
    """What a retry must repeat for its key to mean the same request (no card number)."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def as_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class TestPaymentProvider:
    """The built-in sandbox. ``sleep`` is injected so tests need not wait for slow cards."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(
        self,
        client: Redis,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        slow_delay_s: float = 2.0,
        poll_s: float = 0.025,
        wait_s: float = WAIT_FOR_CLAIM_S,
    ) -> None:
        self.client = client
        self.clock = clock
        self.sleep = sleep
        self.slow_delay_s = slow_delay_s
        self.poll_s = poll_s
        self.wait_s = wait_s
        self.charges_made = 0  # charges this instance carried out, for tests and metrics

    # Charges -----------------------------------------------------------------------

    async def charge(
        self,
        *,
        amount: int,
        currency: str,
        card: CardDetails,
        idempotency_key: str,
        description: str,
    ) -> PaymentResult:
        # Public methods are plain coroutines so the class satisfies PaymentProvider;
        # ``guarded`` (typed as returning an Awaitable) wraps the work behind them.
        return await self._charge(amount, currency, card, idempotency_key, description)

    @guarded
    async def _charge(
        self,
        amount: int,
        currency: str,
        card: CardDetails,
        idempotency_key: str,
        description: str,
        authorise: bool = False,
    ) -> PaymentResult:
        _check_amount(amount)
        if currency not in MINOR_UNITS:
            raise BadRequest(f"unknown currency {currency!r}")
        _check_key(idempotency_key)
        kind = "authorise" if authorise else "charge"
        fingerprint = _fingerprint(kind, amount, currency, card.last4, card.exp_month)
        key = keys.payment_claim(idempotency_key)
        token = secrets.token_hex(8)
        claim = orjson.dumps({"state": "pending", "fp": fingerprint, "token": token})
        previous = await self.client.set(key, claim, nx=True, get=True, ex=CLAIM_LEASE_S)
        if previous is not None:
            return await self._await_result(key, as_text(previous), fingerprint)

        status, decline_code, message = TEST_CARDS.get(card.number, ("paid", None, ""))
        if status == _SLOW_STATUS:
            await self.sleep(self.slow_delay_s)
        self.charges_made += 1
        prefix = "auth" if authorise else "pay"
        ref = f"{prefix}_{keys.payment_shard(idempotency_key)}_{secrets.token_hex(12)}"
        result = PaymentResult(status, ref, decline_code, message)
        record: dict[str, Any] = {
            "status": "authorised" if authorise and result.paid else status,
            "amount": amount,
            "currency": currency,
            "refunded": 0,
            "brand": card.brand,
            "last4": card.last4,
            "description": description[:500],
            "created_at": int(self.clock() * 1000),
        }
        if authorise:
            record["kind"] = "authorisation"
            record["capture_declines"] = int(card.number == DECLINES_AT_CAPTURE)
        await self._record(key, token, fingerprint, result, record)
        if card.number == SLOW_ANSWER:
            await self.sleep(self.slow_delay_s)
        return result

    async def _record(
        self, key: str, token: str, fingerprint: str, result: PaymentResult, record: dict[str, Any]
    ) -> None:
        """Write the charge and, in the same transaction, replace our own claim with its
        result (a claim that lapsed and was retaken stays): no charge without its answer."""
        done = orjson.dumps({"state": "done", "fp": fingerprint, "result": asdict(result)})
        ref = keys.payment(result.payment_ref)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    current = await pipe.get(key)
                    ours = current is None or orjson.loads(current).get("token") == token
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(ref, mapping=record)  # type: ignore[arg-type]
                    pipe.expire(ref, PAYMENT_TTL_S)
                    if ours:
                        pipe.set(key, done, ex=IDEMPOTENCY_TTL_S)
                    await pipe.execute()
                    return
                except redis_errors.WatchError:
                    continue

    async def charge_of(self, idempotency_key: str) -> PaymentResult | None:
        return await self._charge_of(idempotency_key)

    @guarded
    async def _charge_of(self, idempotency_key: str) -> PaymentResult | None:
        _check_key(idempotency_key)
        raw = await self.client.get(keys.payment_claim(idempotency_key))
        if raw is None:
            return None
        stored = orjson.loads(raw)
        if stored["state"] != "done":
            raise Unavailable("a payment with this idempotency key is under way", retry_after=1)
        result: dict[str, Any] = stored["result"]
        return PaymentResult(**result)

    async def _await_result(self, key: str, record: bytes | str, fingerprint: str) -> PaymentResult:
        """The result another call with this key got, waiting while it is under way."""
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while True:
            stored = orjson.loads(record)
            if stored["fp"] != fingerprint:
                raise IdempotencyKeyReused("this idempotency key was used for a different payment")
            if stored["state"] == "done":
                result: dict[str, Any] = stored["result"]
                return PaymentResult(**result)
            if asyncio.get_running_loop().time() >= deadline:
                raise Unavailable(
                    "a payment with this idempotency key is still under way",
                    retry_after=self.poll_s * 40,
                )
            await asyncio.sleep(self.poll_s)
            fresh = await self.client.get(key)
            if fresh is None:
                # The other call's claim lapsed (its process died): nothing was settled.
                raise Unavailable("an earlier attempt with this key was lost", retry_after=1.0)
            record = fresh

    # Authorisations ----------------------------------------------------------------
    # Stored as charges are (claim, then record), with ``paid`` in the claim's result
    # standing for "authorised": the record under the reference says which it is.

    async def authorise(
        self, *, amount: int, currency: str, card: CardDetails, idempotency_key: str
    ) -> AuthorisationResult:
        result = await self._charge(
            amount, currency, card, idempotency_key, "authorisation", authorise=True
        )
        return _as_authorisation(result)

    async def authorisation_of(self, idempotency_key: str) -> AuthorisationResult | None:
        result = await self._charge_of(idempotency_key)
        return None if result is None else _as_authorisation(result)

    async def capture(self, *, authorisation_ref: str, idempotency_key: str) -> PaymentResult:
        outcome = await self._settle_authorisation(authorisation_ref, idempotency_key, "capture")
        return PaymentResult(**outcome)

    async def void(self, *, authorisation_ref: str, idempotency_key: str) -> str:
        outcome = await self._settle_authorisation(authorisation_ref, idempotency_key, "void")
        return str(outcome["status"])

    @guarded
    async def _settle_authorisation(self, ref: str, idempotency_key: str, op: str) -> Any:
        """Move an authorisation on, once: the first capture or void decides, and every later
        call of the same kind gets that call's result, whatever its key."""
        _check_key(idempotency_key)
        key = keys.payment(ref)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hgetall(key)
                    auth = {as_text(k): as_text(v) for k, v in raw.items()}
                    if not auth:
                        raise NotFound(f"authorisation {ref[:80]} does not exist")
                    if auth.get("kind") != "authorisation":
                        raise Conflict(f"{ref[:80]} is a charge, not an authorisation")
                    status = auth["status"]
                    if op in auth:  # done before: the same answer
                        return orjson.loads(auth[op])
                    if status != "authorised":
                        raise AuthorisationSettled(
                            f"authorisation {ref[:80]} is {status}; it cannot {op}"
                        )
                    outcome: dict[str, Any]
                    if op == "void":
                        status, outcome = "voided", {"status": "voided"}
                    elif auth.get("capture_declines") == "1":
                        status = "capture_declined"
                        outcome = asdict(
                            PaymentResult("declined", ref, "card_declined", "the card was declined")
                        )
                    else:
                        status, outcome = "paid", asdict(PaymentResult("paid", ref))
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, mapping={"status": status, op: orjson.dumps(outcome),
                                            f"{op}_key": idempotency_key,
                                            f"{op}_at": int(self.clock() * 1000)})  # fmt: skip
                    await pipe.execute()
                    return outcome
                except redis_errors.WatchError:
                    continue

    # Refunds -----------------------------------------------------------------------

    async def refund(self, *, payment_ref: str, amount: int, idempotency_key: str) -> RefundResult:
        return await self._refund(payment_ref, amount, idempotency_key)

    @guarded
    async def _refund(self, payment_ref: str, amount: int, idempotency_key: str) -> RefundResult:
        _check_amount(amount)
        _check_key(idempotency_key)
        key = keys.payment(payment_ref)
        field_name = f"refund:{idempotency_key}"
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.hgetall(key)
                    payment = {as_text(k): as_text(v) for k, v in raw.items()}
                    if not payment:
                        raise NotFound(f"payment {payment_ref} does not exist")
                    if field_name in payment:
                        return self._stored_refund(payment[field_name], amount)
                    if payment["status"] != "paid":
                        raise Conflict(f"payment {payment_ref} was not paid; nothing to refund")
                    left = int(payment["amount"]) - int(payment["refunded"])
                    if amount > left:
                        raise Conflict(
                            f"cannot refund {amount}: {left} of {payment['amount']} is left",
                            refundable=left,
                        )
                    result = RefundResult(
                        "refunded", f"re_{secrets.token_hex(12)}", payment_ref, amount
                    )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, field_name, orjson.dumps(asdict(result)))
                    pipe.hincrby(key, "refunded", amount)
                    await pipe.execute()
                    return result
                except redis_errors.WatchError:
                    continue

    @staticmethod
    def _stored_refund(raw: str, amount: int) -> RefundResult:
        stored: dict[str, Any] = orjson.loads(raw)
        if stored["amount"] != amount:
            raise IdempotencyKeyReused("this idempotency key was used for a different refund")
        return RefundResult(**stored)


def _as_authorisation(result: PaymentResult) -> AuthorisationResult:
    status: AuthorisationStatus = "authorised"
    if result.status == "declined":
        status = "declined"
    elif result.status == "failed":
        status = "failed"
    return AuthorisationResult(status, result.payment_ref, result.decline_code, result.message)
