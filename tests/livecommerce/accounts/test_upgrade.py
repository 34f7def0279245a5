"""A deployment that wrote its accounts under the legacy names (every account in one slot)
finds them all again after the upgrade that runs at start, however many processes start."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import redis.asyncio as redis

from livecommerce.accounts.credentials import hash_password
from livecommerce.accounts.store import AccountStore
from livecommerce.accounts.upgrade import Moved, upgrade_accounts, upgrade_when_up
from livecommerce.errors import Unavailable
from livecommerce.store import keys
from livecommerce.store.embedded import EmbeddedValkey
from livecommerce.store.history import Store
from tests.conftest import timeout
from tests.livecommerce.conftest import ServerFactory


def person(account_id: str, username: str) -> dict[str, str]:
    return {
        "id": account_id,
        "username": username,
        "display_name": username.title(),
        "password_hash": "x",
        "created_at": "1",
    }


def flat(fields: dict[str, str]) -> list[str]:
    return [part for pair in fields.items() for part in pair]


async def test_a_legacy_dataset_moves_to_the_new_keys_once_and_completely(
    private_valkey: EmbeddedValkey,
) -> None:
    stores = [Store.from_url(private_valkey.url, stream_max_len=1000) for _ in range(2)]
    try:
        client = stores[0].client
        # What the earlier version wrote.
        people = [person(f"u_{i}", f"fan{i}") for i in range(450)]  # more than one chunk
        for p in people:
            await client.hset(keys.legacy_account(p["id"]), items=flat(p))
            await client.hset(keys.legacy_accounts_by_username(), p["username"], p["id"])
        # A half-done earlier upgrade: this account moved, its legacy entry did not go.
        await client.hset(keys.account("u_half"), items=flat(person("u_half", "half")))
        await client.hset(keys.legacy_accounts_by_username(), "half", "u_half")
        await client.sadd(keys.legacy_deleted_accounts(), "u_gone", "u_left")
        until = int(time.time() * 1000) + 3_600_000
        for session in ("s1", "s2"):
            await client.set(keys.legacy_revoked_session(session), b"1", pxat=until)
        await client.sadd(keys.admins(), "u_1")

        # Two processes start at once, then one more later.
        first = await asyncio.gather(*(upgrade_accounts(s.client, s.scripts) for s in stores))
        assert sum(m.accounts for m in first) >= 450
        assert sum(m.usernames for m in first) == 451  # each claim is written once
        again = await upgrade_accounts(client, stores[0].scripts)
        assert again == Moved()
        assert not again

        accounts = AccountStore(client, stores[0].scripts)
        for p in [*people, person("u_half", "half")]:
            assert await accounts.account_by_username(p["username"]) == p
        assert await accounts.is_deleted("u_gone")
        assert await accounts.is_deleted("u_left")
        assert not await accounts.is_deleted("u_1")
        assert await accounts.revoked_among({"s1", "s2", "s3"}) == {"s1", "s2"}
        assert await client.pexpiretime(keys.revoked_session("s1")) == until
        assert await accounts.is_admin("u_1")

        left = [k async for k in client.scan_iter(match="lc:{acct}:*")]
        assert left == [keys.admins().encode()]  # the operators' set stays where it was
        assert [k async for k in client.scan_iter(match=keys.legacy_revoked_sessions())] == []

        # Walking every key once is enough: a later start does not walk them again.
        await client.set(keys.legacy_revoked_session("s_late"), b"1", pxat=until)
        assert (await upgrade_accounts(client, stores[0].scripts)).sessions == 0
        assert await client.exists(keys.legacy_revoked_session("s_late"))
    finally:
        for store in stores:
            await store.close()


async def test_a_process_started_while_its_store_is_down_upgrades_once_the_store_answers(
    private_valkey: EmbeddedValkey,
) -> None:
    store = Store.from_url(private_valkey.url, stream_max_len=1000)
    try:
        await store.client.hset(keys.legacy_account("u_1"), items=flat(person("u_1", "ada")))
        await store.client.hset(keys.legacy_accounts_by_username(), "ada", "u_1")
        await asyncio.to_thread(private_valkey.stop)
        with pytest.raises(Unavailable):
            await upgrade_accounts(store.client, store.scripts)
        upgrading = asyncio.create_task(upgrade_when_up(store.client, store.scripts, wait_s=0.05))
        await asyncio.to_thread(private_valkey.start)
        moved = await asyncio.wait_for(upgrading, timeout(30))
        assert (moved.accounts, moved.usernames) == (1, 1)
        found = await AccountStore(store.client, store.scripts).account_by_username("ada")
        assert found == person("u_1", "ada")
    finally:
        await store.close()


async def test_a_person_signed_up_before_the_upgrade_signs_in_on_the_upgraded_server(
    redis_url: str, start_server: ServerFactory
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        ada = {**person("u_ada", "ada"), "password_hash": hash_password("analytical engine")}
        await client.hset(keys.legacy_account("u_ada"), items=flat(ada))
        await client.hset(keys.legacy_accounts_by_username(), "ada", "u_ada")
        server = await start_server()
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
            signed_in = await http.post(
                "/api/v1/sessions", json={"username": "ada", "password": "analytical engine"}
            )
            assert signed_in.status_code == 200, signed_in.text
        assert await client.exists(keys.legacy_accounts_by_username()) == 0
    finally:
        await client.aclose()
