"""Password hashing off the event loop.

An argon2id hash or check takes a fifth of a second of CPU and 64 MiB: on the loop it would
stall every socket of the process for that long, so a burst of sign-ins (a show's start, or
an attacker with many addresses) would freeze chat and sales. The work runs in threads
(argon2 releases the GIL), a few at a time, so a flood waits its turn instead of taking all
the memory: argon2 runs its four lanes in threads of its own, so one check at a time per
four cores keeps the loop's share of the CPU.
"""

from __future__ import annotations

import asyncio
import os

from livecommerce.accounts.credentials import hash_password, verify_password


class Passwords:
    def __init__(self, slots: int | None = None) -> None:
        self._slots = asyncio.Semaphore(slots or max(1, (os.cpu_count() or 1) // 4))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(hash_password, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(verify_password, stored_hash, password)
