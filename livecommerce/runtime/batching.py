"""Group commit: requests for one key that arrive while a call is in flight share the next call.

A rush sends thousands of reserves for one sale within a second. One store call each would
spend most of the process on per-command overhead (packing, the pool, parsing), and every
call would queue for a connection. Instead the first request goes out at once, alone, and
whatever arrives while it is in flight goes out together as the next call: a quiet sale
keeps its single round trip, a busy one gets calls of up to ``max_batch`` requests, and the
store sees a handful of calls a second instead of thousands.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
A = TypeVar("A")

Run = Callable[[K, Sequence[R]], Awaitable[Sequence[A]]]


class Batcher(Generic[K, R, A]):
    """``submit`` answers one request; ``run`` answers a batch in order, one answer each.

    At most ``max_in_flight`` calls per key run at once. An error from ``run`` is every
    request's error in that batch; a cancelled submitter leaves its request in the batch (the
    store may already have done it, as with any call whose answer is lost).
    """

    def __init__(self, run: Run[K, R, A], *, max_batch: int = 256, max_in_flight: int = 2) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._run = run
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self._queues: dict[K, deque[tuple[R, asyncio.Future[A]]]] = {}
        self._in_flight: dict[K, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: K, request: R) -> A:
        future: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append((request, future))
        if self._in_flight.get(key, 0) < self.max_in_flight:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            task = asyncio.ensure_future(self._drain(key))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self, key: K) -> None:
        queue = self._queues[key]
        try:
            while queue:
                n = min(len(queue), self.max_batch)
                batch = [queue.popleft() for _ in range(n)]
                try:
                    answers = await self._run(key, [request for request, _ in batch])
                    if len(answers) != len(batch):
                        raise RuntimeError(f"{len(answers)} answers to {len(batch)} requests")
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            left = self._in_flight[key] - 1
            if left:
                self._in_flight[key] = left
            else:
                del self._in_flight[key]
                if not queue:
                    del self._queues[key]

    async def close(self) -> None:
        """Wait for the calls in flight; nothing new should be submitted after this."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
