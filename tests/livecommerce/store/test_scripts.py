"""Every Lua script of the package loads, says what it takes and returns, and compiles on Valkey.

A script is read by name from wherever its concept keeps it, with its preludes in front; a
typo in a prelude's name, or a Lua syntax error, would otherwise surface only when a user's
action first runs that script.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from redis.asyncio import Redis

import livecommerce
from livecommerce.store import scripts

NAMES = sorted(scripts.files())
SCRIPTS = [name for name in NAMES if not name.startswith("_")]
PRELUDES = [name for name in NAMES if name.startswith("_")]
LITERAL_INDEX = re.compile(r"\b(?:KEYS|ARGV)\[\d+\]")
LOCAL = re.compile(r"local \w+ = ")


def header(text: str) -> list[str]:
    lines = text.splitlines()
    end = next(i for i, line in enumerate(lines) if not line.startswith("--"))
    return lines[:end]


def top_locals(text: str) -> list[str]:
    """The ``local name = ...`` lines right under the header."""
    lines = text.splitlines()[len(header(text)) :]
    end = next((i for i, line in enumerate(lines) if not LOCAL.match(line)), len(lines))
    return lines[:end]


def own(name: str) -> str:
    return scripts.files()[name].read_text(encoding="utf-8")


def test_the_package_has_its_scripts_and_preludes_each_under_one_name() -> None:
    on_disk = list(Path(livecommerce.__file__).parent.rglob("*.lua"))
    assert len(on_disk) == len(NAMES), "two scripts share a name; one hides the other"
    assert {"chat_post", "sale_reserve", "room_end"} <= set(SCRIPTS)
    assert PRELUDES == [
        "_auction",
        "_gcra",
        "_groupbuy",
        "_presence",
        "_publish",
        "_review",
        "_room",
        "_sale",
    ]


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_header_names_its_keys_arguments_and_results(name: str) -> None:
    said = "\n".join(header(own(name)))
    assert said.startswith(f"-- {name}: "), "the header opens with the script's name and purpose"
    assert "KEYS[" in said
    assert "ARGV[" in said
    assert "Returns" in said


@pytest.mark.parametrize("name", NAMES)
def test_a_script_names_its_keys_and_arguments_once_at_the_top(name: str) -> None:
    text = own(name)
    below = text.splitlines()[len(header(text)) + len(top_locals(text)) :]
    indexed = [line for line in below if not line.startswith("--") and LITERAL_INDEX.search(line)]
    assert indexed == [], "read KEYS[n] and ARGV[n] through the locals at the top"


@pytest.mark.parametrize("name", NAMES)
def test_a_script_uses_only_preludes_that_exist(name: str) -> None:
    text = own(name)
    used = scripts.preludes(text)
    assert set(used) <= set(PRELUDES)
    declared = [line for line in text.splitlines() if line.startswith("-- uses:")]
    assert len(declared) == (1 if used else 0), "the uses: line belongs in the header"
    assert all(line in header(text) for line in declared)
    assert scripts.source(name).endswith(text)


@pytest.mark.parametrize("name", NAMES)
async def test_a_script_compiles_on_valkey_under_the_sha_it_is_called_by(
    redis_url: str, name: str
) -> None:
    client = Redis.from_url(redis_url)
    try:
        sha = await client.script_load(scripts.source(name))
        assert sha == scripts.register(client, name).sha
        assert await client.script_exists(sha) == [True]
    finally:
        await client.aclose()
