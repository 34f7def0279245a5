"""Group commit: a quiet sale keeps one round trip per press, a rush shares them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from livecommerce.runtime.batching import Batcher
from tests.conftest import timeout


class Store:
    """A stand-in store call that records each batch and can be held or made to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False
        self.called = asyncio.Event()

    async def run(self, key: str, requests: Sequence[int]) -> list[str]:
        self.calls.append((key, list(requests)))
        self.called.set()
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("store down")
        return [f"{key}:{r}" for r in requests]


async def test_a_lone_press_goes_out_at_once_and_alone() -> None:
    store = Store()
    batcher: Batcher[str, int, str] = Batcher(store.run)
    assert await batcher.submit("sale-1", 7) == "sale-1:7"
    assert store.calls == [("sale-1", [7])]


async def test_presses_that_arrive_while_a_call_is_in_flight_share_the_next_call() -> None:
    store = Store()
    store.gate.clear()
    batcher: Batcher[str, int, str] = Batcher(store.run, max_in_flight=1)
    first = asyncio.ensure_future(batcher.submit("sale-1", 0))
    await store.called.wait()
    rest = [asyncio.ensure_future(batcher.submit("sale-1", i)) for i in range(1, 50)]
    await asyncio.sleep(0)
    store.gate.set()
    async with asyncio.timeout(timeout(5)):
        answers = await asyncio.gather(first, *rest)
    assert answers == [f"sale-1:{i}" for i in range(50)]
    assert [len(requests) for _, requests in store.calls] == [1, 49]


async def test_a_batch_never_exceeds_max_batch_and_keeps_arrival_order() -> None:
    store = Store()
    store.gate.clear()
    batcher: Batcher[str, int, str] = Batcher(store.run, max_batch=10, max_in_flight=1)
    tasks = [asyncio.ensure_future(batcher.submit("s", i)) for i in range(35)]
    await asyncio.sleep(0)
    store.gate.set()
    async with asyncio.timeout(timeout(5)):
        assert await asyncio.gather(*tasks) == [f"s:{i}" for i in range(35)]
    sizes = [len(requests) for _, requests in store.calls]
    assert max(sizes) == 10
    assert sum(sizes) == 35
    assert [r for _, requests in store.calls for r in requests] == list(range(35))


async def test_two_sales_never_share_a_call() -> None:
    store = Store()
    batcher: Batcher[str, int, str] = Batcher(store.run)
    answers = await asyncio.gather(*(batcher.submit(f"sale-{i % 2}", i) for i in range(10)))
    assert answers == [f"sale-{i % 2}:{i}" for i in range(10)]
    for key, requests in store.calls:
        assert all(f"sale-{r % 2}" == key for r in requests)


async def test_a_failed_call_fails_only_its_own_batch() -> None:
    store = Store()
    store.gate.clear()
    store.fail_next = True
    batcher: Batcher[str, int, str] = Batcher(store.run, max_in_flight=1)
    doomed = asyncio.ensure_future(batcher.submit("s", 1))
    await store.called.wait()
    later = asyncio.ensure_future(batcher.submit("s", 2))
    store.gate.set()
    with pytest.raises(ConnectionError):
        await doomed
    assert await later == "s:2"


async def test_a_buyer_who_leaves_mid_call_does_not_break_the_others() -> None:
    store = Store()
    store.gate.clear()
    batcher: Batcher[str, int, str] = Batcher(store.run, max_in_flight=1)
    first = asyncio.ensure_future(batcher.submit("s", 0))
    await store.called.wait()
    gone = asyncio.ensure_future(batcher.submit("s", 1))
    stays = asyncio.ensure_future(batcher.submit("s", 2))
    await asyncio.sleep(0)
    gone.cancel()
    store.gate.set()
    assert await first == "s:0"
    assert await stays == "s:2"
    assert gone.cancelled()
    await batcher.close()


async def test_a_store_that_answers_the_wrong_number_is_an_error_for_everyone() -> None:
    async def short(key: str, requests: Sequence[int]) -> list[str]:
        return ["only one"]

    batcher: Batcher[str, int, str] = Batcher(short, max_in_flight=1)
    results = await asyncio.gather(
        *(batcher.submit("s", i) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results[1:])


def test_nonsense_limits_are_refused() -> None:
    async def run(key: str, requests: Sequence[int]) -> list[int]:
        return list(requests)

    with pytest.raises(ValueError, match="at least 1"):
        Batcher(run, max_batch=0)
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(run, max_in_flight=0)
