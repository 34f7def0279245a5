"""The embedded Valkey keeps to its owner: other local users can neither talk to it without
its password nor read the files that hold accounts and orders. A real Valkey each time."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
import redis

from livecommerce.store.embedded import EmbeddedValkey
from tests.conftest import timeout


def modes(directory: Path) -> dict[str, int]:
    """Permission bits of the directory and everything under it, by relative path."""
    found = {".": stat.S_IMODE(directory.stat().st_mode)}
    for path in directory.rglob("*"):
        found[str(path.relative_to(directory))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def private(found: dict[str, int]) -> dict[str, int]:
    """The entries that someone other than the owner may read, write or enter."""
    return {name: mode for name, mode in found.items() if mode & 0o077}


def wait_for_rewrite(client: redis.Redis) -> None:
    deadline = time.monotonic() + timeout(10)
    while client.info("persistence")["aof_rewrite_in_progress"]:
        assert time.monotonic() < deadline, "the append-only rewrite did not finish"
        time.sleep(0.02)


@pytest.fixture
def embedded(tmp_path: Path) -> EmbeddedValkey:
    return EmbeddedValkey(tmp_path / "valkey")


def test_a_local_user_without_the_password_is_refused(embedded: EmbeddedValkey) -> None:
    embedded.start()
    try:
        assert embedded.process is not None
        stranger = redis.Redis(host=embedded.host, port=embedded.port)
        with pytest.raises(redis.AuthenticationError):
            stranger.ping()
        stranger.close()

        owner = redis.Redis.from_url(embedded.url)  # the URL the server uses carries it
        assert owner.ping()
        owner.close()

        password = (embedded.data_dir / "password").read_text().strip()
        assert len(password) >= 32
        assert password == embedded.password
        # Not on the command line, which every local user can read.
        command_line = Path(f"/proc/{embedded.process.pid}/cmdline").read_bytes()
        assert password.encode() not in command_line
    finally:
        embedded.stop()


def test_the_password_is_made_once_and_kept(tmp_path: Path) -> None:
    first = EmbeddedValkey(tmp_path / "valkey")
    first.start()
    first.stop()
    again = EmbeddedValkey(tmp_path / "valkey")
    again.start()
    try:
        assert again.password == first.password
    finally:
        again.stop()

    (tmp_path / "valkey" / "password").write_text("")  # emptied: never "no password"
    emptied = EmbeddedValkey(tmp_path / "valkey")
    emptied.start()
    try:
        assert emptied.password
        assert emptied.password != first.password
        stranger = redis.Redis(host=emptied.host, port=emptied.port)
        with pytest.raises(redis.AuthenticationError):
            stranger.ping()
        stranger.close()
    finally:
        emptied.stop()


def test_the_files_holding_accounts_and_orders_are_the_owners_alone(
    embedded: EmbeddedValkey,
) -> None:
    embedded.start()
    try:
        client = redis.Redis.from_url(embedded.url)
        client.set("account", "argon2 hash and address")
        client.bgrewriteaof()  # files Valkey writes later, not only at start
        wait_for_rewrite(client)
        client.set("order", "after the rewrite")
        client.close()
        found = modes(embedded.data_dir)
    finally:
        embedded.stop()
    assert any(name.startswith("appendonly/") for name in found)
    assert "password" in found
    assert private(found) == {}


def test_a_data_directory_an_older_version_left_readable_is_tightened(tmp_path: Path) -> None:
    old = EmbeddedValkey(tmp_path / "valkey", password="")  # as versions before passwords
    old.start()
    client = redis.Redis.from_url(old.url)
    client.set("account", "kept")
    client.close()
    old.stop()
    for path in [old.data_dir, *old.data_dir.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)  # what umask 022 made
    assert private(modes(old.data_dir)) != {}

    upgraded = EmbeddedValkey(tmp_path / "valkey")
    upgraded.start()
    try:
        assert private(modes(upgraded.data_dir)) == {}
        client = redis.Redis.from_url(upgraded.url)
        assert client.get("account") == b"kept"  # the data came along
        client.close()
    finally:
        upgraded.stop()
