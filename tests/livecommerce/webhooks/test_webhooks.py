"""Webhooks: signatures, endpoint rules and retries (pure), then deliveries to a real
receiver (starlette under uvicorn on 127.0.0.1, port 0) from dispatchers on a real Valkey."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecommerce.errors import BadRequest, Conflict, NotFound
from livecommerce.webhooks.dispatcher import WebhookDispatcher
from livecommerce.webhooks.rules import (
    MAX_ENDPOINTS,
    SIGNATURE_HEADER,
    BadSignature,
    Endpoint,
    EventType,
    RetrySchedule,
    WebhookEvent,
    new_event,
    new_secret,
    parse_endpoint,
    sign,
    validate_url,
    verify_signature,
)
from livecommerce.webhooks.store import Attempt, WebhookStore
from tests.conftest import timeout
from tests.receivers import HANG, StartReceiver

SECRET = "whsec_test"
NOW = 1_800_000_000.0
FAST = RetrySchedule(delays_s=(0.02, 0.02, 0.02), jitter=0)


# Signatures ------------------------------------------------------------------------------


def test_a_signature_round_trips() -> None:
    body = b'{"id":"evt_1"}'
    header = sign(SECRET, body, now=NOW)
    assert header.startswith(f"t={int(NOW)},v1=")
    assert verify_signature(SECRET, header, body, NOW + 299) == int(NOW)
    assert verify_signature(SECRET, header, body, NOW - 299) == int(NOW)


def test_the_signature_is_documented_hmac_over_timestamp_and_body() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(SECRET.encode(), f"{int(NOW)}.".encode() + body, hashlib.sha256)
    assert sign(SECRET, body, now=NOW) == f"t={int(NOW)},v1={expected.hexdigest()}"


@pytest.mark.parametrize(
    ("header", "body", "now", "message"),
    [
        (sign(SECRET, b"{}", now=NOW), b'{"x":1}', NOW, "does not match"),
        (sign("whsec_other", b"{}", now=NOW), b"{}", NOW, "does not match"),
        (sign(SECRET, b"{}", now=NOW), b"{}", NOW + 301, "outside the tolerance"),
        (sign(SECRET, b"{}", now=NOW), b"{}", NOW - 301, "outside the tolerance"),
        (None, b"{}", NOW, "no Livecommerce-Signature header"),
        ("", b"{}", NOW, "no Livecommerce-Signature header"),
        ("v1=abc", b"{}", NOW, "no timestamp"),
        (f"t={int(NOW)}", b"{}", NOW, "no v1"),
        ("t=soon,v1=abc", b"{}", NOW, "not a number"),
        ("garbage", b"{}", NOW, "no timestamp"),
    ],
)
def test_tampered_forged_or_old_signatures_are_refused(
    header: str | None, body: bytes, now: float, message: str
) -> None:
    with pytest.raises(BadSignature, match=message) as refused:
        verify_signature(SECRET, header, body, now)
    assert (refused.value.code, refused.value.status) == ("bad_signature", 401)


def test_any_matching_v1_passes_while_a_secret_rolls_over() -> None:
    body = b"{}"
    old = sign("whsec_old", body, now=NOW).split(",")[1]
    new = sign(SECRET, body, now=NOW)
    assert verify_signature(SECRET, f"{new},{old}", body, NOW) == int(NOW)
    assert verify_signature("whsec_old", f"{new},{old}", body, NOW) == int(NOW)


# Events, endpoints, retries ------------------------------------------------------------------


def test_events_have_unique_ids_and_a_stable_body() -> None:
    events = [new_event("order.created", {"order_id": "o1"}, now_ms=1) for _ in range(100)]
    assert len({e.id for e in events}) == 100
    event = events[0]
    assert event.id.startswith("evt_")
    assert orjson.loads(event.to_json()) == {
        "id": event.id,
        "type": "order.created",
        "created_at": 1,
        "data": {"order_id": "o1"},
    }
    assert WebhookEvent.from_json(event.to_json()) == event
    with pytest.raises(BadRequest, match="unknown webhook event type"):
        new_event("order.exploded", {}, now_ms=1)


@pytest.mark.parametrize(
    "url",
    [
        "https://merchant.example/hooks/livecommerce",
        "http://127.0.0.1:8080/hook?x=1",
        "https://[::1]:8443/h",
        "https://" + "a" * 60 + ".example/" + "p" * (2048 - 78),
    ],
)
def test_good_endpoint_urls(url: str) -> None:
    assert validate_url(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (None, "non-empty string"),
        ("", "non-empty string"),
        ("ftp://merchant.example/hook", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("merchant.example/hook", "http or https"),
        ("https://user:pw@merchant.example/hook", "user name or password"),
        ("https://user@merchant.example/hook", "user name or password"),
        ("https:///hook", "no host"),
        ("https://merchant.example/hook#frag", "fragment"),
        ("https://merchant.example/a hook", "spaces or control"),
        ("https://merchant.example/\x00", "spaces or control"),
        ("https://merchant.example:99999/", "not a valid URL"),
        ("https://merchant.example:0/", "port 0"),
        ("https://" + "a" * 64 + ".example/", "invalid host name"),
        ("https://merchant.example/" + "p" * 2048, "at most 2048"),
    ],
)
def test_bad_endpoint_urls_are_refused(url: object, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        validate_url(url)


def test_an_endpoint_from_an_api_body() -> None:
    endpoint = parse_endpoint(
        {"url": "https://m.example/h", "events": ["sale.ended", "order.created", "sale.ended"]},
        endpoint_id="we_1",
        now_ms=5,
        secret=lambda: "whsec_fixed",
    )
    assert endpoint.events == (EventType.SALE_ENDED, EventType.ORDER_CREATED)
    assert endpoint.wants(EventType.ORDER_CREATED)
    assert not endpoint.wants(EventType.ORDER_REFUNDED)
    assert "whsec_fixed" not in repr(endpoint)
    assert "secret" not in endpoint.to_public()
    assert endpoint.to_public(with_secret=True)["secret"] == "whsec_fixed"
    assert Endpoint.from_json(endpoint.to_json()) == endpoint
    everything = parse_endpoint({"url": "https://m.example/h"}, endpoint_id="we_2", now_ms=5)
    assert all(everything.wants(t) for t in EventType)
    assert everything.secret.startswith("whsec_")
    assert len(everything.secret) > 40
    assert new_secret(lambda n: "x" * n) == "whsec_" + "x" * 32
    with pytest.raises(BadRequest, match="unknown event types"):
        parse_endpoint(
            {"url": "https://m.example/h", "events": ["order.*"]}, endpoint_id="e", now_ms=0
        )
    with pytest.raises(BadRequest, match="'events' must be a list"):
        parse_endpoint({"url": "https://m.example/h", "events": "all"}, endpoint_id="e", now_ms=0)
    with pytest.raises(BadRequest, match="'description'"):
        parse_endpoint({"url": "https://m.example/h", "description": 1}, endpoint_id="e", now_ms=0)
    with pytest.raises(BadRequest, match="JSON object"):
        parse_endpoint("https://m.example/h", endpoint_id="e", now_ms=0)


def test_the_retry_schedule_backs_off_then_gives_up() -> None:
    schedule = RetrySchedule()
    middle = [schedule.next_delay(n, lambda: 0.5) for n in range(1, 10)]
    assert middle == [10, 30, 120, 600, 3600, 21600, 43200, None, None]
    assert schedule.max_attempts == 8
    assert schedule.next_delay(0, lambda: 0.5) is None
    low = [schedule.next_delay(n, lambda: 0.0) for n in range(1, 8)]
    high = [schedule.next_delay(n, lambda: 0.999999) for n in range(1, 8)]
    for base, lo, hi in zip(middle, low, high, strict=False):
        assert base is not None
        assert lo is not None
        assert hi is not None
        assert lo == pytest.approx(base * 0.8)
        assert hi == pytest.approx(base * 1.2)


# A real receiver ----------------------------------------------------------------------------


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def outbound() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


@pytest.fixture
def store(client: Redis) -> WebhookStore:
    return WebhookStore(client)


async def add_endpoint(
    store: WebhookStore, creator: str, url: str, *events: str, endpoint_id: str = "we_1"
) -> Endpoint:
    endpoint = parse_endpoint(
        {"url": url, "events": list(events)},
        endpoint_id=endpoint_id,
        now_ms=int(time.time() * 1000),
    )
    await store.add_endpoint(creator, endpoint)
    return endpoint


def order_created(order_id: str = "ord_1") -> WebhookEvent:
    return new_event(
        EventType.ORDER_CREATED,
        {"order_id": order_id, "amount": 4900, "currency": "EUR"},
        now_ms=int(time.time() * 1000),
    )


async def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_attempt(
    start_receiver: StartReceiver, store: WebhookStore, outbound: httpx.AsyncClient
) -> None:
    receiver = await start_receiver(500, 503, 200)
    endpoint = await add_endpoint(store, "creator1", receiver.url)
    dispatcher = WebhookDispatcher(store, outbound, schedule=FAST, poll_s=0.05, allow_private=True)
    await dispatcher.start()
    event = order_created()
    try:
        [delivery_id] = await dispatcher.enqueue("creator1", event)
        requests = await receiver.wait_for(3)
    finally:
        await dispatcher.stop()

    assert [r.answer for r in requests] == [500, 503, 200]
    for number, request in enumerate(requests, start=1):
        assert request.body == event.to_json()
        assert request.headers["content-type"] == "application/json"
        assert request.headers["livecommerce-event-id"] == event.id
        assert request.headers["livecommerce-delivery-id"] == delivery_id
        assert request.headers["livecommerce-attempt"] == str(number)
        signature = request.headers[SIGNATURE_HEADER.lower()]
        verify_signature(endpoint.secret, signature, request.body, time.time())
    log = await store.delivery_log("creator1")
    assert [(a.attempt, a.status, a.outcome) for a in log] == [
        (3, 200, "delivered"),
        (2, 503, "retrying"),
        (1, 500, "retrying"),
    ]
    assert {(a.delivery_id, a.event_id, a.endpoint_id, a.url) for a in log} == {
        (delivery_id, event.id, endpoint.id, receiver.url)
    }
    assert all(a.duration_ms >= 0 and a.at > 0 and a.error == "" for a in log)
    assert log[1].next_at is not None
    assert log[1].next_at >= log[1].at
    assert [a.attempt for a in await store.delivery_log("creator1", limit=1)] == [3]
    assert await store.pending() == 0


async def test_two_dispatchers_deliver_each_event_once(
    redis_url: str,
    start_receiver: StartReceiver,
    store: WebhookStore,
    outbound: httpx.AsyncClient,
) -> None:
    receiver = await start_receiver()
    await add_endpoint(store, "creator1", receiver.url)
    events = [order_created(f"ord_{i}") for i in range(30)]
    for event in events:
        await store.enqueue("creator1", event, int(time.time() * 1000))
    other_client = Redis.from_url(redis_url)
    sent: dict[str, int] = {"a": 0, "b": 0}

    def counter(name: str) -> Callable[[Attempt], None]:
        def count(attempt: Attempt) -> None:
            sent[name] += 1

        return count

    dispatchers = [
        WebhookDispatcher(
            store, outbound, batch=4, poll_s=0.05, on_attempt=counter("a"), allow_private=True
        ),
        WebhookDispatcher(
            WebhookStore(other_client),
            outbound,
            batch=4,
            poll_s=0.05,
            on_attempt=counter("b"),
            allow_private=True,
        ),
    ]
    try:
        await asyncio.gather(*(d.start() for d in dispatchers))
        await receiver.wait_for(len(events))
    finally:
        await asyncio.gather(*(d.stop() for d in dispatchers))
        await other_client.aclose()

    ids = [orjson.loads(r.body)["id"] for r in receiver.requests]
    assert sorted(ids) == sorted(e.id for e in events)
    assert sent["a"] > 0
    assert sent["b"] > 0
    assert sent["a"] + sent["b"] == len(events)
    log = await store.delivery_log("creator1", limit=100)
    assert len(log) == len(events)
    assert {a.outcome for a in log} == {"delivered"}
    assert await store.pending() == 0


async def test_a_receiver_that_times_out_counts_as_a_failed_attempt(
    start_receiver: StartReceiver, store: WebhookStore, outbound: httpx.AsyncClient
) -> None:
    receiver = await start_receiver(HANG, 200)
    await add_endpoint(store, "creator1", receiver.url)
    dispatcher = WebhookDispatcher(
        store, outbound, schedule=FAST, poll_s=0.05, timeout_s=0.3, lease_s=5, allow_private=True
    )
    await dispatcher.start()
    try:
        await dispatcher.enqueue("creator1", order_created())
        await receiver.wait_for(2)
    finally:
        await dispatcher.stop()
    log = await store.delivery_log("creator1")
    assert [(a.attempt, a.status, a.outcome) for a in log] == [
        (2, 200, "delivered"),
        (1, None, "retrying"),
    ]
    assert log[1].error == "timeout after 0.3 s"
    assert log[1].duration_ms >= 250


async def test_an_unreachable_receiver_is_retried_then_given_up(
    store: WebhookStore, outbound: httpx.AsyncClient
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    await add_endpoint(store, "creator1", f"http://127.0.0.1:{port}/hook")
    gave_up = asyncio.Event()

    def watch(attempt: Attempt) -> None:
        if attempt.outcome == "gave_up":
            gave_up.set()

    dispatcher = WebhookDispatcher(
        store,
        outbound,
        schedule=RetrySchedule((0.01,), jitter=0),
        poll_s=0.05,
        on_attempt=watch,
        allow_private=True,
    )
    await dispatcher.start()
    try:
        await dispatcher.enqueue("creator1", order_created())
        async with asyncio.timeout(timeout(5)):
            await gave_up.wait()
    finally:
        await dispatcher.stop()
    log = await store.delivery_log("creator1")
    assert [(a.attempt, a.status, a.outcome) for a in log] == [
        (2, None, "gave_up"),
        (1, None, "retrying"),
    ]
    assert all(a.error.startswith("ConnectError") for a in log)
    assert await store.pending() == 0


async def test_a_claim_leases_deliveries_until_the_lease_runs_out(store: WebhookStore) -> None:
    await add_endpoint(store, "creator1", "https://m.example/a", endpoint_id="we_a")
    await add_endpoint(store, "creator1", "https://m.example/b", endpoint_id="we_b")
    ids = await store.enqueue("creator1", order_created(), 1_000)
    assert len(ids) == 2
    assert await store.claim(999, 60_000, 10) == []
    assert sorted(await store.claim(1_000, 60_000, 10)) == sorted(ids)
    assert await store.claim(1_000, 60_000, 10) == []
    assert await store.next_due_ms() == 61_000
    assert len(await store.claim(61_000, 60_000, 1)) == 1
    assert len(await store.claim(61_000, 60_000, 10)) == 1


async def test_only_endpoints_that_want_the_event_get_a_delivery(store: WebhookStore) -> None:
    await add_endpoint(store, "creator1", "https://m.example/s", "sale.started", endpoint_id="s")
    await add_endpoint(store, "creator1", "https://m.example/all", endpoint_id="all")
    await add_endpoint(store, "creator2", "https://other.example/", endpoint_id="x")
    order_ids = await store.enqueue("creator1", order_created(), 0)
    assert len(order_ids) == 1
    delivery = await store.delivery(order_ids[0])
    assert delivery is not None
    assert delivery.endpoint_id == "all"
    sale = new_event("sale.started", {"sale_id": "s1"}, now_ms=0)
    assert len(await store.enqueue("creator1", sale, 0)) == 2
    assert await store.enqueue("nobody", sale, 0) == []


async def test_a_delivery_to_a_removed_endpoint_is_dropped(
    store: WebhookStore, outbound: httpx.AsyncClient
) -> None:
    await add_endpoint(store, "creator1", "https://m.example/gone")
    [delivery_id] = await store.enqueue("creator1", order_created(), 0)
    await store.remove_endpoint("creator1", "we_1")
    dispatcher = WebhookDispatcher(store, outbound)
    assert await dispatcher.run_once() == 1
    assert await store.delivery(delivery_id) is None
    assert await store.pending() == 0
    assert await store.delivery_log("creator1") == []


async def test_endpoints_are_listed_read_and_removed(store: WebhookStore) -> None:
    first = await add_endpoint(store, "creator1", "https://m.example/1", endpoint_id="we_1")
    second = await add_endpoint(store, "creator1", "https://m.example/2", endpoint_id="we_2")
    listed = await store.endpoints("creator1")
    assert [e.id for e in listed] == [first.id, second.id]
    assert listed[0].secret == first.secret
    assert await store.endpoint("creator1", "we_2") == second
    assert await store.endpoints("creator2") == []
    with pytest.raises(Conflict, match="exists"):
        await store.add_endpoint("creator1", first)
    await store.remove_endpoint("creator1", "we_1")
    with pytest.raises(NotFound):
        await store.remove_endpoint("creator1", "we_1")
    with pytest.raises(NotFound):
        await store.endpoint("creator1", "we_1")
    for i in range(MAX_ENDPOINTS - 1):
        await add_endpoint(store, "creator1", "https://m.example/", endpoint_id=f"more{i}")
    with pytest.raises(Conflict, match=f"at most {MAX_ENDPOINTS}"):
        await add_endpoint(store, "creator1", "https://m.example/", endpoint_id="one_too_many")
