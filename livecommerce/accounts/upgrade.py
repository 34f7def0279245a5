"""Moving accounts written under the legacy key names (one ``{acct}`` slot for every
account, one ``{revoked}`` slot for every signed-out session) to keys of their own.

Run by every process at start, before it serves: it moves what an earlier version left,
and finds nothing to do once that is done. Each step only ever adds what is missing (a
claim with SET NX, an account only where none is yet) before the legacy entry goes, so a
process that dies halfway leaves work the next start finishes, and processes starting at
once do the same steps twice, harmlessly. Old-version processes still running write legacy
keys again: stop them before, or restart a new one after.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from livecommerce.errors import Unavailable
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded
from livecommerce.store.scripts import Scripts

log = logging.getLogger("livecommerce.accounts.upgrade")

CHUNK = 200


@dataclass
class Moved:
    accounts: int = 0
    usernames: int = 0
    deleted: int = 0
    sessions: int = 0

    def __bool__(self) -> bool:
        return any((self.accounts, self.usernames, self.deleted, self.sessions))


@guarded
async def upgrade_accounts(client: Redis, scripts: Scripts) -> Moved:
    """Move every legacy account, username, deleted id and signed-out session."""
    moved = Moved()
    await _usernames(client, scripts, moved)
    await _deleted(client, moved)
    await _sessions(client, moved)
    if moved:
        log.info(
            "accounts moved to their own keys",
            extra={
                "accounts": moved.accounts,
                "usernames": moved.usernames,
                "deleted": moved.deleted,
                "sessions": moved.sessions,
            },
        )
    return moved


async def upgrade_when_up(client: Redis, scripts: Scripts, *, wait_s: float = 0.5) -> Moved:
    """The upgrade, tried again until the store answers: a process started while its store is
    down starts anyway (answering 503 meanwhile), as it did before there was an upgrade."""
    while True:
        try:
            return await upgrade_accounts(client, scripts)
        except Unavailable:
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, 5.0)


async def _usernames(client: Redis, scripts: Scripts, moved: Moved) -> None:
    legacy = keys.legacy_accounts_by_username()
    cursor = 0
    while True:
        cursor, chunk = await client.hscan(legacy, cursor, count=CHUNK)
        assert isinstance(chunk, dict)
        for raw_name, raw_id in chunk.items():
            username, account_id = as_text(raw_name), as_text(raw_id)
            old = keys.legacy_account(account_id)
            fields = as_strings(await client.hgetall(old))
            if fields:
                flat = [part for pair in fields.items() for part in pair]
                moved.accounts += int(
                    await scripts.account_copy(keys=[keys.account(account_id)], args=flat)
                )
            if fields or await client.exists(keys.account(account_id)):
                claimed = await client.set(keys.username_claim(username), account_id, nx=True)
                moved.usernames += int(bool(claimed))
            # The legacy entry goes last: a crash before here leaves it for the next start.
            await client.delete(old)
            await client.hdel(legacy, username)
        if cursor == 0:
            return


async def _deleted(client: Redis, moved: Moved) -> None:
    legacy = keys.legacy_deleted_accounts()
    cursor = 0
    while True:
        cursor, chunk = await client.sscan(legacy, cursor, count=CHUNK)
        ids = [as_text(m) for m in chunk]
        if ids:
            async with client.pipeline(transaction=False) as pipe:
                for account_id in ids:
                    pipe.set(keys.account_deleted(account_id), account_id)
                await pipe.execute()
            await client.srem(legacy, *ids)
            moved.deleted += len(ids)
        if cursor == 0:
            return


async def _sessions(client: Redis, moved: Moved) -> None:
    """Each legacy revoked session under its own key, kept as long as it had left. A cluster
    client's SCAN visits every primary; it walks every key, so once a walk has finished it is
    marked done and later starts skip it (a legacy key written after that, by an old process
    left running, is not moved: the upgrade note says to stop those first)."""
    done = keys.upgraded("revoked-sessions")
    if await client.exists(done):
        return
    prefix = keys.legacy_revoked_session("")
    found: list[str] = []
    async for raw in client.scan_iter(match=keys.legacy_revoked_sessions(), count=1000):
        found.append(as_text(raw))
        if len(found) >= CHUNK:
            moved.sessions += await _move_sessions(client, prefix, found)
            found = []
    moved.sessions += await _move_sessions(client, prefix, found)
    await client.set(done, b"1")


async def _move_sessions(client: Redis, prefix: str, found: list[str]) -> int:
    if not found:
        return 0
    async with client.pipeline(transaction=False) as pipe:
        for key in found:
            pipe.pexpiretime(key)
        until = await pipe.execute()
    count = 0
    async with client.pipeline(transaction=False) as pipe:
        for key, at in zip(found, until, strict=True):
            if at == -2:
                continue  # expired meanwhile, or moved by another process
            new = keys.revoked_session(key[len(prefix) :])
            if at == -1:
                pipe.set(new, b"1")
            else:
                pipe.set(new, b"1", pxat=at)
            count += 1
        await pipe.execute()
    # Deleted only once the new keys are written.
    async with client.pipeline(transaction=False) as pipe:
        for key in found:
            pipe.delete(key)
        await pipe.execute()
    return count
