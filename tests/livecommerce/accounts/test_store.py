"""Accounts spread over the store's slots, against a real Valkey (and a real 3+3 cluster):
a username is claimed on its own key, so racing sign-ups, a sign-up that died halfway and a
deletion all meet there; and different people's accounts live on different primaries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from livecommerce.accounts.store import CLAIM_GRACE_MS, Account, AccountStore
from livecommerce.errors import Conflict
from livecommerce.store import keys
from livecommerce.store.embedded_cluster import EmbeddedCluster
from livecommerce.store.history import Store

OpenStore = Callable[..., Awaitable[AccountStore]]


@pytest.fixture
async def open_store(redis_url: str) -> AsyncIterator[OpenStore]:
    """Each call is another process's connection to the same store."""
    opened: list[Store] = []

    async def open_(
        url: str = redis_url, cluster: bool = False, claim_grace_ms: int = CLAIM_GRACE_MS
    ) -> AccountStore:
        base = Store.from_url(url, cluster=cluster, stream_max_len=1000)
        opened.append(base)
        return AccountStore(base.client, base.scripts, claim_grace_ms=claim_grace_ms)

    yield open_
    for base in opened:
        await base.close()


def account(account_id: str, username: str) -> Account:
    return {
        "id": account_id,
        "username": username,
        "display_name": username.title(),
        "password_hash": "x",
        "created_at": "1",
    }


def flat(fields: dict[str, str]) -> list[str]:
    return [part for pair in fields.items() for part in pair]


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_two_processes_signing_up_one_name_at_once_make_one_account(
    open_store: OpenStore,
) -> None:
    here, there = await open_store(), await open_store()
    for round_ in range(10):
        name = f"twin{round_}"
        outcomes = await asyncio.gather(
            here.create_account(account(f"u_a{round_}", name)),
            there.create_account(account(f"u_b{round_}", name)),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "NoneType"]
        winner = f"u_a{round_}" if outcomes[0] is None else f"u_b{round_}"
        loser = f"u_b{round_}" if outcomes[0] is None else f"u_a{round_}"
        found = await there.account_by_username(name)
        assert found is not None
        assert found["id"] == winner
        assert await here.account(loser) is None  # the loser left nothing behind


async def test_a_sign_up_signs_in_and_a_name_being_signed_up_is_nobody_yet(
    open_store: OpenStore,
) -> None:
    store = await open_store()
    await store.create_account(account("u_ada", "ada"))
    assert await store.account_by_username("ada") == account("u_ada", "ada")
    assert await store.client.get(keys.username_claim("ada")) == b"u_ada"

    # Another sign-up has claimed "bo" and is writing its account right now.
    outcome, pending = await store.scripts.username_claim(
        keys=[keys.username_claim("bo")], args=["u_bo", CLAIM_GRACE_MS, ""]
    )
    assert outcome == 1
    await store.client.hset(keys.account("u_bo"), items=flat(account("u_bo", "bo")))
    assert await store.account_by_username("bo") is None  # not until it is confirmed
    with pytest.raises(Conflict):  # a fresh claim is not taken over
        await store.create_account(account("u_late", "bo"))
    assert await store.scripts.username_confirm(
        keys=[keys.username_claim("bo")], args=[pending, "u_bo"]
    )
    found = await store.account_by_username("bo")
    assert found is not None
    assert found["id"] == "u_bo"


async def test_a_name_left_claimed_by_a_sign_up_that_died_is_taken_over_after_its_grace(
    open_store: OpenStore,
) -> None:
    store = await open_store()
    # A process claimed "cy" long enough ago and died before writing the account.
    stale = f"u_dead {now_ms() - CLAIM_GRACE_MS - 1000}"
    await store.client.set(keys.username_claim("cy"), stale)
    await store.create_account(account("u_cy", "cy"))
    found = await store.account_by_username("cy")
    assert found is not None
    assert found["id"] == "u_cy"

    # One that died after writing its account but before confirming keeps its name.
    await store.client.hset(keys.account("u_dy"), items=flat(account("u_dy", "dy")))
    await store.client.set(keys.username_claim("dy"), f"u_dy {now_ms() - CLAIM_GRACE_MS - 1000}")
    with pytest.raises(Conflict):
        await store.create_account(account("u_other", "dy"))
    found = await store.account_by_username("dy")
    assert found is not None
    assert found["id"] == "u_dy"
    assert await store.account("u_other") is None


async def test_a_slow_sign_up_whose_claim_was_taken_over_meanwhile_removes_its_account(
    open_store: OpenStore,
) -> None:
    """The slow one claimed, then stalled past the grace (here none); the other found no
    account behind the claim and took it over. Confirming and taking over meet on the claim
    key, so exactly one account ends up with the name."""
    slow, quick = await open_store(), await open_store(claim_grace_ms=0)
    claim = keys.username_claim("eve")
    _, pending = await slow.scripts.username_claim(
        keys=[claim], args=["u_slow", CLAIM_GRACE_MS, ""]
    )
    await quick.create_account(account("u_quick", "eve"))
    await slow.client.hset(keys.account("u_slow"), items=flat(account("u_slow", "eve")))
    assert not await slow.scripts.username_confirm(keys=[claim], args=[pending, "u_slow"])
    found = await slow.account_by_username("eve")
    assert found is not None
    assert found["id"] == "u_quick"

    # The other way round: the slow one confirms first, and a late takeover finds it taken.
    _, pending = await slow.scripts.username_claim(
        keys=[keys.username_claim("fay")], args=["u_fay", CLAIM_GRACE_MS, ""]
    )
    await slow.client.hset(keys.account("u_fay"), items=flat(account("u_fay", "fay")))
    assert await slow.scripts.username_confirm(
        keys=[keys.username_claim("fay")], args=[pending, "u_fay"]
    )
    with pytest.raises(Conflict):
        await quick.create_account(account("u_late", "fay"))


async def test_a_deleted_account_frees_its_name_only_while_the_name_is_still_its_own(
    open_store: OpenStore,
) -> None:
    store = await open_store()
    ada = account("u_ada", "ada")
    await store.create_account(ada)
    assert await store.delete_account(ada)
    assert await store.is_deleted("u_ada")
    assert await store.client.exists(keys.username_claim("ada")) == 0
    await store.create_account(account("u_ada2", "ada"))  # the name is free again

    # The name was someone else's by the time the old account went: it stays theirs.
    bo = account("u_bo", "bo")
    await store.create_account(bo)
    await store.client.set(keys.username_claim("bo"), "u_newbo")
    assert await store.delete_account(bo)
    assert await store.client.get(keys.username_claim("bo")) == b"u_newbo"

    # A deletion that died before freeing the name: the next sign-up frees it.
    cy = account("u_cy", "cy")
    await store.create_account(cy)
    await store.scripts.account_delete(
        keys=[keys.account("u_cy"), keys.account_deleted("u_cy")], args=["u_cy"]
    )
    assert await store.account_by_username("cy") is None
    await store.create_account(account("u_cy2", "cy"))
    found = await store.account_by_username("cy")
    assert found is not None
    assert found["id"] == "u_cy2"


async def test_accounts_names_and_sessions_of_different_people_live_on_different_primaries(
    open_store: OpenStore, cluster_url: str, valkey_cluster: EmbeddedCluster
) -> None:
    store = await open_store(cluster_url, cluster=True)
    people = [account(f"u_{i:02d}x", f"fan{i:02d}") for i in range(30)]
    for person in people:
        await store.create_account(person)
    for person in people[:3]:
        assert await store.delete_account(person)
    sessions = {f"s{i:02d}" for i in range(30)}
    for session in sorted(sessions)[:10]:
        await store.revoke_session(session, now_ms() + 60_000)

    primaries = valkey_cluster.primaries()
    assert len(primaries) == 3
    for pattern in ("lc:{u:*}:account", "lc:{n:*}:username", "lc:{s:*}:revoked"):
        held = [len(primary.call("KEYS", pattern)) for primary in primaries]
        assert all(count > 0 for count in held), (pattern, held)

    # Every check still reads them all, one pipeline split over the primaries.
    assert await store.revoked_among(sessions) == set(sorted(sessions)[:10])
    deleted = await asyncio.gather(*(store.is_deleted(p["id"]) for p in people))
    assert deleted == [True] * 3 + [False] * 27
    for person in people[3:]:
        assert await store.account_by_username(person["username"]) == person
