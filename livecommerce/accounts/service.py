"""The account desk: sign-up, sign-in, sign-out, export and erasure, and whether a token still
works, for HTTP and the socket alike.

The routes only parse a request and answer it; what an account may do and in which order the
store is asked lives here. A sign-in costs one password check whether or not the username
exists and counts as a failure until the password proves right, so neither timing nor the
limits tell a guesser which usernames are taken, and a guesser elsewhere never locks the
owner out (``store/limits.py``). A sign-out is kept until its token would have expired.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

from livecommerce.accounts.auth import Authenticator, Identity
from livecommerce.accounts.credentials import SignUp
from livecommerce.accounts.passwords import Passwords
from livecommerce.accounts.store import Account, AccountStore
from livecommerce.errors import BadRequest, Unauthorized
from livecommerce.events import Event
from livecommerce.runtime.ids import Ids
from livecommerce.store.limits import Limit, Limiter

# A revocation is kept until its token expires; tokens with an 'exp' further ahead than this
# (only merchant ones, with --jwt-max-ttl-s 0) are remembered as signed out this long.
REVOCATION_MAX_MS = 366 * 86400 * 1000
EXPORT_MAX = 10_000


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """New accounts per address; sign-in attempts per address; wrong passwords per username
    from one address, and per username from anywhere (see ``Limiter.sign_in_attempt``)."""

    signup: Limit
    signin: Limit
    signin_failures: Limit
    signin_account: Limit

    @classmethod
    def named(cls, limit: Callable[[str], Limit]) -> AccountLimits:
        """Each limit by its name (the operator's ``--limit-<name>``)."""
        return cls(*(limit(f.name) for f in fields(cls)))

    @classmethod
    def off(cls) -> AccountLimits:
        return cls.named(lambda name: Limit.parse(name, "0"))


@dataclass(frozen=True, slots=True)
class Footprint:
    """Where the rest of what the server keeps about a person is read for their export: the
    other concepts' readers, handed in so that accounts depend on none of them."""

    orders_of: Callable[[str, int], Awaitable[list[Event]]]
    rooms_chatted_in: Callable[[str], Awaitable[list[str]]]
    lines_in: Callable[[str, str, int], Awaitable[list[Event]]]
    bids_of: Callable[[str, int], Awaitable[list[Event]]] | None = None
    follows_of: Callable[[str], Awaitable[Event]] | None = None  # whom they follow, reminders
    reviews_of: Callable[[str, int], Awaitable[list[Event]]] | None = None
    votes_of: Callable[[str, int], Awaitable[list[Event]]] | None = None  # poll votes
    # What other concepts do when an account is deleted (reviews lose their words and name).
    forget: Callable[[str], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    expires_at: int
    account: Account


def public(account: Account) -> dict[str, str]:
    """What anyone may see of an account: never its password hash."""
    return {
        "id": account["id"],
        "username": account["username"],
        "display_name": account["display_name"],
    }


def revoked_until(expires_at_s: int, now_ms: int) -> int:
    """How long a sign-out is kept: until its token expires, a second at least, a year and
    a day at most."""
    until_ms = min(expires_at_s * 1000, now_ms + REVOCATION_MAX_MS)
    return max(until_ms, now_ms + 1000)


def require_own_account(who: Identity) -> None:
    """Only a built-in account is ours to delete."""
    if who.kind != "account":
        raise BadRequest("this identity belongs to a merchant; ask them to delete it")


class Accounts:
    def __init__(
        self,
        store: AccountStore,
        auth: Authenticator,
        limiter: Limiter,
        *,
        limits: AccountLimits,
        footprint: Footprint | None = None,
        passwords: Passwords | None = None,
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.ids = ids or Ids()
        self.store = store
        self.auth = auth
        self.limiter = limiter
        self.limits = limits
        self.footprint = footprint
        self.passwords = passwords or Passwords()
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def sign_up(self, sign_up: SignUp, address: str) -> Account:
        """A new account under a username nobody holds (``Conflict`` otherwise)."""
        await self.limiter.check(self.limits.signup, address)
        account = {
            "id": self.ids.user(),
            "username": sign_up.username,
            "display_name": sign_up.display_name,
            "password_hash": await self.passwords.hash(sign_up.password),
            "created_at": str(self.now_ms()),
        }
        await self.store.create_account(account)
        return account

    async def sign_in(self, username: str, password: str, address: str) -> SignedIn:
        """A token for the right password; ``Unauthorized`` alike for a wrong one or nobody."""
        await self.limiter.check(self.limits.signin, address)
        ticket = await self.limiter.sign_in_attempt(
            self.limits.signin_failures, self.limits.signin_account, username, address
        )
        account = await self.store.account_by_username(username)
        stored_hash = account["password_hash"] if account else None
        if not await self.passwords.verify(stored_hash, password) or not account:
            raise Unauthorized("wrong username or password")
        await self.limiter.sign_in_succeeded(ticket)
        token, expires_at = self.auth.issue(
            account["id"], account["display_name"], self.now_ms() // 1000
        )
        return SignedIn(token, expires_at, account)

    async def sign_out(self, who: Identity) -> None:
        """Sign this token out on every process; its sockets close with 4401."""
        if who.session is None:
            raise BadRequest("this token has neither 'jti' nor 'iat', so it ends only at its 'exp'")
        await self.store.revoke_session(who.session, revoked_until(who.expires_at_s, self.now_ms()))

    async def refusal(self, user_id: str, session: str | None) -> str | None:
        """Why a valid token no longer works (account deleted, signed out), or None."""
        return await self.store.refusal(user_id, session)

    async def revoked_among(self, sessions: set[str]) -> set[str]:
        """Which of these sessions were signed out, for sockets that may have missed it."""
        return await self.store.revoked_among(sessions)

    async def export(self, who: Identity) -> Event:
        """Everything the server keeps about ``who``: account, orders, recent chat lines, the
        lots they bid on, whom they follow, their reviews and their poll votes."""
        account = await self.store.account(who.id) if who.kind == "account" else None
        messages: list[Event] = []
        orders: list[Event] = []
        bids: list[Event] = []
        follows: Event = {"following": [], "reminders": []}
        reviews: list[Event] = []
        votes: list[Event] = []
        if self.footprint is not None:
            if self.footprint.follows_of is not None:
                follows = await self.footprint.follows_of(who.id)
            for room_id in await self.footprint.rooms_chatted_in(who.id):
                for line in await self.footprint.lines_in(room_id, who.id, EXPORT_MAX):
                    messages.append({"room_id": room_id, **line})
        exported_at = self.now_ms()
        if self.footprint is not None:
            orders = await self.footprint.orders_of(who.id, EXPORT_MAX)
            if self.footprint.bids_of is not None:
                bids = await self.footprint.bids_of(who.id, EXPORT_MAX)
            if self.footprint.reviews_of is not None:
                reviews = await self.footprint.reviews_of(who.id, EXPORT_MAX)
            if self.footprint.votes_of is not None:
                votes = await self.footprint.votes_of(who.id, EXPORT_MAX)
        return {
            "exported_at": exported_at,
            "account": {**public(account), "created_at": int(account["created_at"])}
            if account
            else {"id": who.id, "name": who.name, "kind": who.kind},
            "orders": orders,
            "messages": messages,
            "bids": bids,
            "following": follows["following"],
            "reminders": follows["reminders"],
            "reviews": reviews,
            "poll_votes": votes,
        }

    async def delete(self, who: Identity, password: str) -> None:
        """Delete ``who``'s account, confirmed by its password: the username is freed, every
        token of it stops working, its chat lines lose its name. Orders stay."""
        require_own_account(who)
        account = await self.store.account(who.id)
        if account is None or not await self.passwords.verify(account["password_hash"], password):
            raise Unauthorized("wrong password")
        # Erased first: a failure here leaves the account for the person to try again,
        # where the other order would leave words no one can erase any more.
        if self.footprint is not None and self.footprint.forget is not None:
            await self.footprint.forget(who.id)
        await self.store.delete_account(account)
        if self.footprint is not None and self.footprint.forget is not None:
            await self.footprint.forget(who.id)  # again: what raced the deletion goes too
