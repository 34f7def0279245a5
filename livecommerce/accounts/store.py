"""Accounts in Redis: the accounts themselves, their usernames, signed-out sessions and operators.

A username is claimed and its account written in one script, so two sign-ups racing for a
name cannot both win; deleting frees the name and remembers the id for good, so the tokens it
was given are refused from then on. Tokens are signed, not stored: what ends one early is a
revoked session here, kept until the token would have expired. Every signed-in request and
join asks both questions (``refusal``); a crowd arriving at once asks them together.
Operators (``livecommerce admin``) are a set of account ids beside the accounts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis

from livecommerce.errors import Conflict
from livecommerce.runtime.batching import Batcher
from livecommerce.store import keys
from livecommerce.store.connection import as_strings, as_text, guarded
from livecommerce.store.scripts import Scripts

Account = dict[str, str]


class AccountStore:
    def __init__(self, client: Redis, scripts: Scripts) -> None:
        self.client = client
        self.scripts = scripts
        self._deleted_checks: Batcher[str, str, bool] = Batcher(self._deleted_batch, max_batch=512)
        self._revoked_checks: Batcher[str, str, bool] = Batcher(self._revoked_batch, max_batch=512)

    # Accounts --------------------------------------------------------------------------

    @guarded
    async def create_account(self, account: Account) -> None:
        flat: list[str] = []
        for name, value in account.items():
            flat += [name, value]
        created = await self.scripts.account_create(
            keys=[keys.accounts_by_username(), keys.account(account["id"])],
            args=[account["username"], account["id"], *flat],
        )
        if not created:
            raise Conflict(f"the username {account['username']!r} is taken")

    @guarded
    async def account_by_username(self, username: str) -> Account | None:
        account_id = await self.client.hget(keys.accounts_by_username(), username)
        if account_id is None:
            return None
        return await self._account(as_text(account_id))

    @guarded
    async def account(self, account_id: str) -> Account | None:
        return await self._account(account_id)

    async def _account(self, account_id: str) -> Account | None:
        raw = await self.client.hgetall(keys.account(account_id))
        return as_strings(raw) or None

    @guarded
    async def delete_account(self, account: Account) -> bool:
        deleted = await self.scripts.account_delete(
            keys=[
                keys.accounts_by_username(),
                keys.account(account["id"]),
                keys.deleted_accounts(),
            ],
            args=[account["username"], account["id"]],
        )
        return bool(deleted)

    @guarded
    async def is_deleted(self, user_id: str) -> bool:
        """Whether this person deleted their account; concurrent checks share one call."""
        return await self._deleted_checks.submit("", user_id)

    async def _deleted_batch(self, _key: str, user_ids: Sequence[str]) -> list[bool]:
        flags = await self.client.smismember(keys.deleted_accounts(), list(user_ids))
        return [bool(flag) for flag in flags]

    # Sessions --------------------------------------------------------------------------

    async def refusal(self, user_id: str, session: str | None) -> str | None:
        """Why a valid token no longer works (its account was deleted, it was signed out),
        or None. Both are asked at once: one round trip's wait per request or join."""
        deleted, revoked = await asyncio.gather(
            self.is_deleted(user_id), self.is_revoked(session) if session else _false()
        )
        if deleted:
            return "this account has been deleted"
        return "this token was signed out" if revoked else None

    @guarded
    async def revoke_session(self, session: str, until_ms: int) -> None:
        """Sign a token's session out: kept until the token expires, and told to every
        process at once, which closes the sockets that hold it."""
        # Recorded before it is told: a process that misses the news still finds the record
        # when it checks (and rechecks every socket after its bus comes back).
        await self.client.set(keys.revoked_session(session), b"1", pxat=until_ms)
        await self.client.publish(keys.revocations_channel(), session)

    @guarded
    async def is_revoked(self, session: str) -> bool:
        """Whether this session was signed out; concurrent checks share one call."""
        return await self._revoked_checks.submit("", session)

    @guarded
    async def revoked_among(self, sessions: set[str]) -> set[str]:
        """Which of these sessions were signed out (one round trip)."""
        ordered = sorted(sessions)
        found = await self._revoked_batch("", ordered)
        return {s for s, gone in zip(ordered, found, strict=True) if gone}

    async def _revoked_batch(self, _key: str, sessions: Sequence[str]) -> list[bool]:
        if not sessions:
            return []
        found = await self.client.mget([keys.revoked_session(s) for s in sessions])
        return [value is not None for value in found]

    # Operators -------------------------------------------------------------------------

    @guarded
    async def is_admin(self, user_id: str) -> bool:
        return bool(await self.client.sismember(keys.admins(), user_id))

    @guarded
    async def admins(self) -> set[str]:
        return {as_text(m) for m in await self.client.smembers(keys.admins())}

    @guarded
    async def set_admin(self, user_id: str, admin: bool) -> None:
        if admin:
            await self.client.sadd(keys.admins(), user_id)
        else:
            await self.client.srem(keys.admins(), user_id)


async def _false() -> bool:
    return False
