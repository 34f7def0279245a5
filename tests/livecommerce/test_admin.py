"""An operator, made from the command line, may moderate any room; revoked, no more."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import httpx
import redis.asyncio as aioredis

from livecommerce.server import Server
from livecommerce.store import keys
from livecommerce.store.embedded import EmbeddedValkey
from tests.conftest import timeout
from tests.helpers import join, open_room, sign_up, tool
from tests.livecommerce.conftest import ServerFactory


async def admin(redis_url: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livecommerce", "admin", "--redis-url", redis_url, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(timeout(30)):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_an_operator_granted_from_the_command_line_moderates_any_room(
    server: Server, http: httpx.AsyncClient, redis_url: str
) -> None:
    ada, oda = await sign_up(http, "Ada"), await sign_up(http, "Oda")
    room = await open_room(http, ada)
    operating = await join(server.ws_url, room["id"], oda)
    assert (await tool(operating, "1", type="mod.slow", seconds=5))["code"] == "forbidden"

    code, out = await admin(redis_url, "grant", oda.username)
    assert code == 0, out
    assert "is now an operator" in out
    assert (await tool(operating, "2", type="mod.slow", seconds=5))["type"] == "ack"
    code, out = await admin(redis_url, "list")
    assert oda.username in out

    code, out = await admin(redis_url, "revoke", oda.username)
    assert code == 0, out
    assert (await tool(operating, "3", type="mod.slow", seconds=0))["code"] == "forbidden"
    code, out = await admin(redis_url, "grant", "nobody-by-this-name")
    assert code == 1
    assert "no account" in out


async def test_on_a_cluster_the_command_finds_an_account_on_whichever_primary_holds_it(
    start_server: ServerFactory, cluster_url: str
) -> None:
    server = await start_server(redis_url=cluster_url, redis_cluster=True, wait_replicas=1)
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        people = [await sign_up(http, f"Oda{n}") for n in range(6)]  # over all three primaries
    for person in people:
        code, out = await admin(cluster_url, "--redis-cluster", "grant", person.username)
        assert code == 0, out
    code, out = await admin(cluster_url, "--redis-cluster", "list")
    assert all(person.username in out for person in people), out


async def admin_on_disk(data_dir: str, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "LIVECOMMERCE_REDIS_URL"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livecommerce", "admin", *args, "--data-dir", data_dir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    async with asyncio.timeout(timeout(30)):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_with_the_embedded_valkey_the_command_finds_the_running_one_or_starts_it(
    tmp_path: Path,
) -> None:
    running = EmbeddedValkey(tmp_path / "live" / "valkey")
    running.start()
    try:
        url_file = tmp_path / "live" / "valkey" / "url"
        assert url_file.read_text().strip() == running.url
        assert stat.S_IMODE(url_file.stat().st_mode) == 0o600
        code, out = await admin_on_disk(str(tmp_path / "live"), "grant", "--user-id", "u_oda")
        assert code == 0, out
        client = aioredis.Redis.from_url(running.url)
        assert await client.sismember(keys.admins(), "u_oda")
        await client.aclose()
    finally:
        running.stop()
    assert not url_file.exists()

    code, out = await admin_on_disk(str(tmp_path / "idle"), "grant", "--user-id", "u_max")
    assert code == 0, out
    later = EmbeddedValkey(tmp_path / "idle" / "valkey")  # the grant was kept on disk
    later.start()
    try:
        client = aioredis.Redis.from_url(later.url)
        assert await client.sismember(keys.admins(), "u_max")
        await client.aclose()
    finally:
        later.stop()
