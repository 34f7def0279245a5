"""Payments: card validation (pure) and the sandbox provider against a real Valkey."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from livecommerce.errors import BadRequest, Conflict, IdempotencyKeyReused, NotFound, Unavailable
from livecommerce.selling.payments import (
    AuthorisationResult,
    AuthorisationSettled,
    CardDetails,
    PaymentDeclined,
    PaymentFailed,
    PaymentProvider,
    PaymentResult,
    TestPaymentProvider,
    card_brand,
    luhn_valid,
    parse_card,
)
from livecommerce.store import keys
from tests.conftest import timeout

NOW = datetime(2030, 5, 31, 23, 59, tzinfo=UTC).timestamp()
VISA = "4242424242424242"
DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"
SLOW_FAILURE = "4000000000000119"
OTHER_VALID = "5555555555554444"


def card_body(number: str = VISA, **fields: Any) -> dict[str, Any]:
    return {"card_number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123", **fields}


def card(number: str = VISA) -> CardDetails:
    return parse_card(card_body(number), now=NOW)


# Cards: pure -----------------------------------------------------------------------------


def test_a_good_card_keeps_brand_and_last_four_and_hides_its_number() -> None:
    details = parse_card(card_body("4242 4242 4242 4242", holder_name=" Ada Lovelace "), now=NOW)
    assert (details.brand, details.last4) == ("visa", "4242")
    assert (details.exp_month, details.exp_year, details.holder_name) == (12, 2031, "Ada Lovelace")
    assert details.number == VISA
    assert VISA not in repr(details)
    assert VISA not in str(details)
    assert VISA not in str(details.to_public())


def test_expiry_holds_through_the_end_of_its_month() -> None:
    assert parse_card(card_body(exp_month=5, exp_year=2030), now=NOW).exp_year == 2030
    assert parse_card(card_body(exp_month="05", exp_year="30"), now=NOW).exp_year == 2030
    with pytest.raises(BadRequest, match="expired at the end of 04/2030"):
        parse_card(card_body(exp_month=4, exp_year=2030), now=NOW)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"card_number": 4242424242424242}, "'card_number' must be a string of digits"),
        ({"card_number": "4242x24242424242"}, "must hold only digits"),
        ({"card_number": "42424242424"}, "must have 12 to 19 digits"),
        ({"card_number": "42424242424242424242"}, "must have 12 to 19 digits"),
        ({"card_number": "4242424242424241"}, "not a valid card number"),
        ({"exp_month": 0}, "'exp_month' must be a whole number from 1 to 12"),
        ({"exp_month": 13}, "'exp_month' must be a whole number from 1 to 12"),
        ({"exp_month": True}, "'exp_month' must be a whole number from 1 to 12"),
        ({"exp_month": "May"}, "'exp_month' must be a whole number from 1 to 12"),
        ({"exp_year": None}, "'exp_year' must be a whole number"),
        ({"exp_year": 2029}, "the card expired"),
        ({"exp_year": 2051}, "at most 20 years ahead"),
        ({"cvc": "12"}, "'cvc' must be a string of 3 or 4 digits"),
        ({"cvc": "12345"}, "'cvc' must be a string of 3 or 4 digits"),
        ({"cvc": 123}, "'cvc' must be a string of 3 or 4 digits"),
        ({"holder_name": 7}, "'holder_name' must be a string"),
        ({"holder_name": "x" * 101}, "'holder_name' must be a string of at most 100"),
        ({"holder_name": "Ada\x00"}, "control or invisible"),
    ],
)
def test_bad_cards_are_refused_with_a_precise_message(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message) as refused:
        parse_card(card_body(**fields), now=NOW)
    assert "42424242" not in refused.value.message


def test_the_payment_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="'payment' must be a JSON object"):
        parse_card(["4242424242424242"], now=NOW)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        (VISA, "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3566002020360505", "unknown"),
    ],
)
def test_brands(number: str, brand: str) -> None:
    assert luhn_valid(number)
    assert card_brand(number) == brand


def test_results_map_to_errors_for_the_edges() -> None:
    assert PaymentResult("paid", "pay_1").require_paid().paid
    with pytest.raises(PaymentDeclined) as declined:
        PaymentResult("declined", "pay_2", "insufficient_funds", "no funds").require_paid()
    problem = declined.value.to_problem()
    assert (problem["status"], problem["code"]) == (402, "payment_declined")
    assert problem["decline_code"] == "insufficient_funds"
    with pytest.raises(PaymentFailed) as failed:
        PaymentResult("failed", "pay_3", "processing_error").require_paid()
    assert failed.value.code == "payment_failed"


# The sandbox: against a real Valkey ---------------------------------------------------------


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


class Sleeps:
    """An injected sleep that records what it was asked and can hold callers at a gate."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.entered.set()
        await self.gate.wait()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def provider(client: Redis, sleeps: Sleeps) -> TestPaymentProvider:
    return TestPaymentProvider(client, clock=lambda: NOW, sleep=sleeps)


async def charge(
    provider: PaymentProvider, number: str = VISA, *, key: str = "k1", amount: int = 1000
) -> PaymentResult:
    return await provider.charge(
        amount=amount,
        currency="EUR",
        card=card(number),
        idempotency_key=key,
        description="Merino scarf",
    )


@pytest.mark.parametrize(
    ("number", "status", "decline_code"),
    [
        (VISA, "paid", None),
        (DECLINED, "declined", "card_declined"),
        (NO_FUNDS, "declined", "insufficient_funds"),
        (SLOW_FAILURE, "failed", "processing_error"),
        (OTHER_VALID, "paid", None),
    ],
)
async def test_the_sandbox_answers_as_its_test_cards_say(
    provider: TestPaymentProvider, number: str, status: str, decline_code: str | None
) -> None:
    result = await charge(provider, number)
    assert (result.status, result.decline_code) == (status, decline_code)
    assert result.payment_ref.startswith("pay_")


async def test_the_slow_card_fails_after_the_injected_delay(
    provider: TestPaymentProvider, sleeps: Sleeps
) -> None:
    await charge(provider, VISA, key="fast")
    assert sleeps.asked == []
    await charge(provider, SLOW_FAILURE, key="slow")
    assert sleeps.asked == [2.0]


async def test_the_same_key_gives_the_same_result_and_charges_once(
    provider: TestPaymentProvider, client: Redis
) -> None:
    first = await charge(provider, DECLINED)
    again = await charge(provider, DECLINED)
    assert again == first
    assert provider.charges_made == 1
    assert 0 < await client.ttl(keys.payment_claim("k1")) <= 7 * 24 * 3600
    stored = await client.get(keys.payment_claim("k1"))
    assert stored is not None
    assert DECLINED.encode() not in stored


async def test_concurrent_calls_with_one_key_charge_once(
    redis_url: str, client: Redis, sleeps: Sleeps
) -> None:
    # Two providers on two connections stand for two server processes.
    other_client = Redis.from_url(redis_url)
    providers = [
        TestPaymentProvider(client, sleep=sleeps),
        TestPaymentProvider(other_client, sleep=sleeps, poll_s=0.005),
    ]
    try:
        for number in (VISA, SLOW_FAILURE):
            sleeps.gate.clear()
            calls = [charge(providers[i % 2], number, key=number) for i in range(10)]
            gathered = asyncio.gather(*calls)
            if number == SLOW_FAILURE:
                # One call holds the charge mid-way while the others arrive.
                async with asyncio.timeout(timeout(5)):
                    await sleeps.entered.wait()
            sleeps.gate.set()
            async with asyncio.timeout(timeout(10)):
                results = await gathered
            assert len(set(results)) == 1
        assert sum(p.charges_made for p in providers) == 2
        assert sleeps.asked == [2.0]
    finally:
        await other_client.aclose()


async def test_a_key_reused_for_another_payment_is_refused(
    provider: TestPaymentProvider,
) -> None:
    await charge(provider, amount=1000)
    with pytest.raises(Conflict, match="different payment"):
        await charge(provider, amount=2000)
    with pytest.raises(Conflict, match="different payment"):
        await charge(provider, OTHER_VALID, amount=1000)


async def test_charges_refuse_bad_amounts_currencies_and_keys(
    provider: TestPaymentProvider,
) -> None:
    with pytest.raises(BadRequest, match="amount"):
        await charge(provider, amount=0)
    with pytest.raises(BadRequest, match="currency"):
        await provider.charge(
            amount=1, currency="XYZ", card=card(), idempotency_key="k", description=""
        )
    with pytest.raises(BadRequest, match="idempotency key"):
        await charge(provider, key="")
    with pytest.raises(BadRequest, match="idempotency key"):
        await charge(provider, key="a\nb")


async def test_refunds_never_exceed_the_charge_and_repeat_by_key(
    provider: TestPaymentProvider,
) -> None:
    paid = await charge(provider, amount=1000)
    refund = provider.refund
    first = await refund(payment_ref=paid.payment_ref, amount=400, idempotency_key="r1")
    assert (first.status, first.amount, first.payment_ref) == ("refunded", 400, paid.payment_ref)
    assert await refund(payment_ref=paid.payment_ref, amount=400, idempotency_key="r1") == first
    with pytest.raises(Conflict, match="different refund"):
        await refund(payment_ref=paid.payment_ref, amount=300, idempotency_key="r1")
    with pytest.raises(Conflict, match="600 of 1000 is left") as refused:
        await refund(payment_ref=paid.payment_ref, amount=601, idempotency_key="r2")
    assert refused.value.extra["refundable"] == 600
    rest = await refund(payment_ref=paid.payment_ref, amount=600, idempotency_key="r2")
    assert rest.refund_ref != first.refund_ref
    with pytest.raises(Conflict, match="0 of 1000 is left"):
        await refund(payment_ref=paid.payment_ref, amount=1, idempotency_key="r3")


async def test_concurrent_refunds_add_up_to_the_charge_at_most(
    redis_url: str, provider: TestPaymentProvider
) -> None:
    paid = await charge(provider, amount=1000)
    other_client = Redis.from_url(redis_url)
    other = TestPaymentProvider(other_client)
    try:
        refunds = [
            (provider if i % 2 else other).refund(
                payment_ref=paid.payment_ref, amount=300, idempotency_key=f"r{i}"
            )
            for i in range(8)
        ]
        results = await asyncio.gather(*refunds, return_exceptions=True)
    finally:
        await other_client.aclose()
    refunded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refunded) == 3
    assert all(isinstance(r, Conflict) for r in refused)


async def test_refunds_need_a_paid_payment(provider: TestPaymentProvider) -> None:
    declined = await charge(provider, DECLINED)
    with pytest.raises(Conflict, match="was not paid"):
        await provider.refund(payment_ref=declined.payment_ref, amount=1, idempotency_key="r")
    with pytest.raises(NotFound):
        await provider.refund(payment_ref="pay_nope", amount=1, idempotency_key="r")
    with pytest.raises(BadRequest, match="amount"):
        await provider.refund(payment_ref=declined.payment_ref, amount=-5, idempotency_key="r")


async def test_a_caller_waits_for_a_charge_under_way_only_so_long(
    client: Redis, provider: TestPaymentProvider, sleeps: Sleeps
) -> None:
    impatient = TestPaymentProvider(client, poll_s=0.005, wait_s=0.05)
    sleeps.gate.clear()
    holder = asyncio.create_task(charge(provider, SLOW_FAILURE))
    async with asyncio.timeout(timeout(5)):
        await sleeps.entered.wait()
    with pytest.raises(Unavailable, match="still under way") as waited:
        await charge(impatient, SLOW_FAILURE)
    assert waited.value.status == 503
    sleeps.gate.set()
    async with asyncio.timeout(timeout(5)):
        result = await holder
    assert await charge(impatient, SLOW_FAILURE) == result
    assert impatient.charges_made == 0


# Authorisations: hold, then capture or void, each once ------------------------------------

CAPTURE_DECLINES = "4000000000000341"


async def authorise(
    provider: PaymentProvider, number: str = VISA, *, key: str = "a1", amount: int = 1000
) -> AuthorisationResult:
    return await provider.authorise(
        amount=amount, currency="EUR", card=card(number), idempotency_key=key
    )


async def test_an_authorisation_is_idempotent_by_key_and_declines_as_the_test_cards_say(
    provider: TestPaymentProvider,
) -> None:
    first = await authorise(provider)
    again = await authorise(provider)
    assert first == again
    assert (first.status, first.authorisation_ref[:5]) == ("authorised", "auth_")
    assert provider.charges_made == 1
    assert await provider.authorisation_of("a1") == first
    assert await provider.authorisation_of("never") is None
    declined = await authorise(provider, DECLINED, key="a2")
    assert (declined.status, declined.decline_code) == ("declined", "card_declined")
    with pytest.raises(PaymentDeclined):
        declined.require_authorised()
    with pytest.raises(IdempotencyKeyReused):
        await authorise(provider, key="a1", amount=999)


async def test_a_capture_takes_the_amount_once_and_can_then_be_refunded(
    provider: TestPaymentProvider,
) -> None:
    held = await authorise(provider)
    ref = held.authorisation_ref
    captures = await asyncio.gather(
        *(provider.capture(authorisation_ref=ref, idempotency_key=f"c{i}") for i in range(5))
    )
    assert {c.status for c in captures} == {"paid"}
    assert {c.payment_ref for c in captures} == {ref}
    with pytest.raises(AuthorisationSettled):
        await provider.void(authorisation_ref=ref, idempotency_key="v1")
    refund = await provider.refund(payment_ref=ref, amount=1000, idempotency_key="r1")
    assert refund.status == "refunded"


async def test_a_void_lets_the_hold_go_once_and_is_never_captured_after(
    provider: TestPaymentProvider,
) -> None:
    ref = (await authorise(provider)).authorisation_ref
    assert await provider.void(authorisation_ref=ref, idempotency_key="v1") == "voided"
    assert await provider.void(authorisation_ref=ref, idempotency_key="v2") == "voided"
    with pytest.raises(AuthorisationSettled):
        await provider.capture(authorisation_ref=ref, idempotency_key="c1")
    with pytest.raises(NotFound):
        await provider.void(authorisation_ref="auth_nope", idempotency_key="v1")


async def test_a_card_may_authorise_and_still_decline_at_capture(
    provider: TestPaymentProvider,
) -> None:
    ref = (await authorise(provider, CAPTURE_DECLINES)).authorisation_ref
    first = await provider.capture(authorisation_ref=ref, idempotency_key="c1")
    assert (first.status, first.decline_code) == ("declined", "card_declined")
    assert await provider.capture(authorisation_ref=ref, idempotency_key="c2") == first


async def test_a_charge_is_never_captured_or_voided_as_if_it_were_a_hold(
    provider: TestPaymentProvider,
) -> None:
    paid = await charge(provider)
    with pytest.raises(Conflict):
        await provider.capture(authorisation_ref=paid.payment_ref, idempotency_key="c1")
    with pytest.raises(Conflict):
        await provider.void(authorisation_ref=paid.payment_ref, idempotency_key="v1")
