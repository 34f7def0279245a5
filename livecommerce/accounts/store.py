"""Accounts in Redis: the accounts themselves, their usernames, signed-out sessions and operators.

Each account, each username and each signed-out session has a slot of its own (store/keys.py),
so sign-ins and token checks spread over a cluster's primaries. Signing up therefore takes
two steps: the username is claimed (pending, stamped with the store's clock), the account is
written, and the claim confirmed. Two sign-ups racing for a name meet on the claim's key, so
one wins. A claim left pending by a process that died before writing its account is taken
over by a later sign-up once it is ``CLAIM_GRACE_MS`` old; if the account was written after
all, confirming and taking over meet on the claim key again, and the loser removes its
account. Deleting removes the account and sets its deleted flag for good (its tokens are
refused from then on), then frees the name if the claim is still its own.
Tokens are signed, not stored: what ends one early is a revoked session here, kept until the
token would have expired. Every signed-in request and join asks both questions
(``refusal``); a crowd arriving at once asks them together, one pipeline per batch.
Operators (``livecommerce admin``) are a set of account ids.
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

# How old a pending username claim must be before a later sign-up may take it over: far longer
# than writing one account takes.
CLAIM_GRACE_MS = 5000


class AccountStore:
    def __init__(
        self, client: Redis, scripts: Scripts, *, claim_grace_ms: int = CLAIM_GRACE_MS
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.claim_grace_ms = claim_grace_ms
        self._deleted_checks: Batcher[str, str, bool] = Batcher(self._deleted_batch, max_batch=512)
        self._revoked_checks: Batcher[str, str, bool] = Batcher(self._revoked_batch, max_batch=512)
        # Pipelines sent per kind of check: what a crowd's batching saves, for tests and debug.
        self.round_trips = {"deleted": 0, "revoked": 0}

    # Accounts --------------------------------------------------------------------------

    @guarded
    async def create_account(self, account: Account) -> None:
        username, account_id = account["username"], account["id"]
        pending = await self._claim(username, account_id)
        flat = [part for pair in account.items() for part in pair]
        await self.client.hset(keys.account(account_id), items=flat)
        confirmed = await self.scripts.username_confirm(
            keys=[keys.username_claim(username)], args=[pending, account_id]
        )
        if not confirmed:
            await self.client.delete(keys.account(account_id))
            raise _taken(username)

    async def _claim(self, username: str, account_id: str) -> str:
        """Claim the name (pending) or raise ``Conflict``; returns the pending claim."""
        claim = keys.username_claim(username)
        abandoned = ""
        for _ in range(3):
            outcome, current = await self.scripts.username_claim(
                keys=[claim], args=[account_id, self.claim_grace_ms, abandoned]
            )
            current = as_text(current)
            if outcome == 1:
                return current
            holder = current.split(" ", 1)[0]
            if outcome == 2:
                if await self.client.exists(keys.account(holder)):
                    # Written, never confirmed: the account stands, its name with it.
                    await self.scripts.username_confirm(keys=[claim], args=[current, holder])
                    raise _taken(username)
                abandoned = current
                continue
            if await self.client.exists(keys.account_deleted(holder)):
                # Its owner deleted it and died before freeing the name.
                await self.scripts.username_release(keys=[claim], args=[holder])
                continue
            raise _taken(username)
        raise _taken(username)

    @guarded
    async def account_by_username(self, username: str) -> Account | None:
        """The account the name is confirmed for; a pending claim is nobody yet."""
        claim = await self.client.get(keys.username_claim(username))
        if claim is None or b" " in claim:
            return None
        return await self._account(as_text(claim))

    @guarded
    async def account(self, account_id: str) -> Account | None:
        return await self._account(account_id)

    async def _account(self, account_id: str) -> Account | None:
        raw = await self.client.hgetall(keys.account(account_id))
        return as_strings(raw) or None

    @guarded
    async def delete_account(self, account: Account) -> bool:
        account_id = account["id"]
        deleted = await self.scripts.account_delete(
            keys=[keys.account(account_id), keys.account_deleted(account_id)], args=[account_id]
        )
        await self.scripts.username_release(
            keys=[keys.username_claim(account["username"])], args=[account_id]
        )
        return bool(deleted)

    @guarded
    async def is_deleted(self, user_id: str) -> bool:
        """Whether this person deleted their account; concurrent checks share one call."""
        return await self._deleted_checks.submit("", user_id)

    async def _deleted_batch(self, _key: str, user_ids: Sequence[str]) -> list[bool]:
        self.round_trips["deleted"] += 1
        return await deleted_flags(self.client, user_ids)

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
        self.round_trips["revoked"] += 1
        async with self.client.pipeline(transaction=False) as pipe:
            for session in sessions:
                pipe.exists(keys.revoked_session(session))
            found = await pipe.execute()
        return [bool(n) for n in found]

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


async def deleted_flags(client: Redis, user_ids: Sequence[str]) -> list[bool]:
    """Whether each of these people deleted their account: one pipeline, which a cluster
    client splits by node."""
    if not user_ids:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for user_id in user_ids:
            pipe.exists(keys.account_deleted(user_id))
        found = await pipe.execute()
    return [bool(n) for n in found]


def _taken(username: str) -> Conflict:
    return Conflict(f"the username {username!r} is taken")
