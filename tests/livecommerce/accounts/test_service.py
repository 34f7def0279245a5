"""The account desk on its own, against a real Valkey: signing up, signing in past a guesser,
signing out, exporting and deleting, without HTTP in between."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from livecommerce.accounts.auth import Authenticator, Identity, MerchantKeys
from livecommerce.accounts.credentials import SignUp, parse_password, verify_password
from livecommerce.accounts.passwords import Passwords
from livecommerce.accounts.service import (
    REVOCATION_MAX_MS,
    AccountLimits,
    Accounts,
    public,
    require_own_account,
    revoked_until,
)
from livecommerce.accounts.store import AccountStore
from livecommerce.errors import BadRequest, Conflict, RateLimited, Unauthorized
from livecommerce.store import keys
from livecommerce.store.history import Store
from livecommerce.store.limits import Limit, Limiter

SECRET = "server-secret-long-enough-for-hs256-signing"
PASSWORD = "analytical engine"
HOME, ELSEWHERE = "198.51.100.7", "203.0.113.66"


class Clock:
    """The desk's clock, near the real one: Redis expires sign-outs by its own."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Desk:
    accounts: Accounts
    store: AccountStore
    auth: Authenticator
    clock: Clock

    async def sign_up(self, username: str, name: str = "") -> dict[str, str]:
        return await self.accounts.sign_up(SignUp(username, PASSWORD, name or username), HOME)

    def identity(self, token: str) -> Identity:
        return self.auth.verify(token)


OpenDesk = Callable[..., Awaitable[Desk]]


@pytest.fixture
async def open_desk(redis_url: str) -> AsyncIterator[OpenDesk]:
    opened: list[Store] = []

    async def open_(limits: AccountLimits | None = None) -> Desk:
        base = Store.from_url(redis_url, stream_max_len=1000)
        opened.append(base)
        clock = Clock()
        store = AccountStore(base.client, base.scripts)
        auth = Authenticator(SECRET, MerchantKeys(), clock=clock)
        accounts = Accounts(
            store,
            auth,
            Limiter(base, clock=clock),
            limits=limits or AccountLimits.off(),
            passwords=Passwords(slots=2),
            clock=clock,
        )
        return Desk(accounts, store, auth, clock)

    yield open_
    for base in opened:
        await base.close()


@pytest.fixture
async def desk(open_desk: OpenDesk) -> Desk:
    return await open_desk()


async def test_a_newcomer_signs_up_and_signs_in_with_a_token_that_names_them(desk: Desk) -> None:
    ada = await desk.sign_up("ada", "Ada")
    assert ada["id"].startswith("u_")
    assert ada["created_at"] == str(int(desk.clock.now * 1000))
    assert ada["password_hash"] != PASSWORD
    assert verify_password(ada["password_hash"], PASSWORD)
    assert public(ada) == {"id": ada["id"], "username": "ada", "display_name": "Ada"}

    signed_in = await desk.accounts.sign_in("ada", PASSWORD, HOME)
    assert signed_in.account == ada
    assert signed_in.expires_at == (int(desk.clock.now) + desk.auth.token_ttl_s) * 1000
    who = desk.identity(signed_in.token)
    assert (who.id, who.name, who.kind) == (ada["id"], "Ada", "account")
    assert await desk.accounts.refusal(who.id, who.session) is None


async def test_two_newcomers_racing_for_one_username_get_one_account(desk: Desk) -> None:
    first, second = await asyncio.gather(
        desk.sign_up("twin", "First"), desk.sign_up("twin", "Second"), return_exceptions=True
    )
    won = [r for r in (first, second) if isinstance(r, dict)]
    lost = [r for r in (first, second) if isinstance(r, BaseException)]
    assert len(won) == len(lost) == 1
    assert isinstance(lost[0], Conflict)
    assert await desk.store.account_by_username("twin") == won[0]


async def test_a_wrong_password_and_a_stranger_are_refused_alike(desk: Desk) -> None:
    await desk.sign_up("ada")
    with pytest.raises(Unauthorized) as wrong:
        await desk.accounts.sign_in("ada", "not the password", HOME)
    with pytest.raises(Unauthorized) as nobody:
        await desk.accounts.sign_in("nobody", PASSWORD, HOME)
    assert str(wrong.value) == str(nobody.value) == "wrong username or password"


def two_wrong_passwords_per_address() -> AccountLimits:
    """Only the password limits on: a burst of two failures per username and address."""
    off = AccountLimits.off()
    return AccountLimits(
        off.signup,
        off.signin,
        Limit.parse("signin_failures", "1/2"),
        Limit.parse("signin_account", "1/100"),
    )


async def test_a_guesser_is_slowed_where_they_are_and_the_owner_still_gets_in(
    open_desk: OpenDesk,
) -> None:
    desk = await open_desk(two_wrong_passwords_per_address())
    await desk.sign_up("ada")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            await desk.accounts.sign_in("ada", "not the password", ELSEWHERE)
    with pytest.raises(RateLimited):  # even the right password, from the guesser's address
        await desk.accounts.sign_in("ada", PASSWORD, ELSEWHERE)
    assert (await desk.accounts.sign_in("ada", PASSWORD, HOME)).account["username"] == "ada"


async def test_an_owner_who_gets_it_right_has_the_attempt_taken_back(open_desk: OpenDesk) -> None:
    desk = await open_desk(two_wrong_passwords_per_address())
    await desk.sign_up("ada")
    for _ in range(5):  # more right sign-ins than the burst of failures: none counts
        await desk.accounts.sign_in("ada", PASSWORD, HOME)
    with pytest.raises(Unauthorized):
        await desk.accounts.sign_in("ada", "a typo", HOME)


async def test_signing_out_ends_that_token_until_it_would_have_expired(desk: Desk) -> None:
    await desk.sign_up("ada")
    phone = await desk.accounts.sign_in("ada", PASSWORD, HOME)
    laptop = await desk.accounts.sign_in("ada", PASSWORD, HOME)
    on_phone, on_laptop = desk.identity(phone.token), desk.identity(laptop.token)
    assert on_phone.session is not None
    assert on_laptop.session is not None
    assert on_phone.session != on_laptop.session

    await desk.accounts.sign_out(on_phone)

    assert await desk.accounts.refusal(on_phone.id, on_phone.session) == (
        "this token was signed out"
    )
    assert await desk.accounts.refusal(on_laptop.id, on_laptop.session) is None
    sessions = {on_phone.session, on_laptop.session}
    assert await desk.accounts.revoked_among(sessions) == {on_phone.session}
    kept_until = await desk.store.client.pexpiretime(keys.revoked_session(on_phone.session))
    assert kept_until == phone.expires_at


async def test_a_token_without_a_session_cannot_be_signed_out(desk: Desk) -> None:
    merchant_user = Identity("m_42", "Shopper", "merchant", None, int(desk.clock.now) + 60)
    with pytest.raises(BadRequest):
        await desk.accounts.sign_out(merchant_user)


def test_a_sign_out_is_kept_as_long_as_its_token_lives_within_bounds() -> None:
    now_ms = 1_700_000_000_000
    an_hour = now_ms // 1000 + 3600
    assert revoked_until(an_hour, now_ms) == an_hour * 1000
    assert revoked_until(now_ms // 1000 - 60, now_ms) == now_ms + 1000  # already expired
    forever = now_ms // 1000 + 10 * 366 * 86400  # a merchant token with no maximum
    assert revoked_until(forever, now_ms) == now_ms + REVOCATION_MAX_MS


async def test_deleting_an_account_needs_its_password_then_frees_its_name_and_ends_its_tokens(
    desk: Desk,
) -> None:
    ada = await desk.sign_up("ada")
    who = desk.identity((await desk.accounts.sign_in("ada", PASSWORD, HOME)).token)

    with pytest.raises(Unauthorized):
        await desk.accounts.delete(who, "not the password")
    assert await desk.store.account(ada["id"]) == ada

    await desk.accounts.delete(who, PASSWORD)

    assert await desk.store.account(ada["id"]) is None
    assert await desk.accounts.refusal(who.id, who.session) == "this account has been deleted"
    with pytest.raises(Unauthorized):
        await desk.accounts.sign_in("ada", PASSWORD, HOME)
    again = await desk.sign_up("ada")
    assert again["id"] != ada["id"]


async def test_a_merchant_s_user_is_deleted_by_the_merchant_not_here(desk: Desk) -> None:
    shopper = Identity("m_42", "Shopper", "merchant", "m_42:1", int(desk.clock.now) + 60)
    with pytest.raises(BadRequest):
        require_own_account(shopper)
    with pytest.raises(BadRequest):
        await desk.accounts.delete(shopper, PASSWORD)


@pytest.mark.parametrize("body", [{}, {"password": 12345678}, [PASSWORD], None])
def test_a_deletion_is_confirmed_with_a_password_string(body: object) -> None:
    with pytest.raises(BadRequest):
        parse_password(body)
    assert parse_password({"password": PASSWORD}) == PASSWORD


async def test_an_export_holds_the_account_but_never_its_password(desk: Desk) -> None:
    ada = await desk.sign_up("ada", "Ada")
    who = desk.identity((await desk.accounts.sign_in("ada", PASSWORD, HOME)).token)
    exported = await desk.accounts.export(who)
    assert exported["account"] == {**public(ada), "created_at": int(ada["created_at"])}
    assert exported["exported_at"] == int(desk.clock.now * 1000)
    assert PASSWORD not in str(exported)
    assert ada["password_hash"] not in str(exported)

    shopper = Identity("m_42", "Shopper", "merchant", "m_42:1", int(desk.clock.now) + 60)
    assert (await desk.accounts.export(shopper))["account"] == {
        "id": "m_42",
        "name": "Shopper",
        "kind": "merchant",
    }


def test_the_limits_are_named_as_the_operator_names_them() -> None:
    named = AccountLimits.named(lambda name: Limit.parse(name, "6/3"))
    assert [limit.name for limit in each(named)] == [
        "signup",
        "signin",
        "signin_failures",
        "signin_account",
    ]
    assert all(limit.per_minute == 0 for limit in each(AccountLimits.off()))


def each(limits: AccountLimits) -> list[Limit]:
    return [limits.signup, limits.signin, limits.signin_failures, limits.signin_account]
