"""Lua scripts: .lua files next to the code that calls them, loaded once and called by SHA.

Every script in the package is found by its file name, so a concept keeps its scripts in its
own folder. Scripts share code through preludes (``_publish.lua``, ``_gcra.lua``,
``_sale.lua``); a script names the preludes it needs on a ``-- uses:`` line in its header,
and they are prepended when it is loaded. Each header also names the KEYS, ARGV and results,
and the lines under it give every KEYS[n] and ARGV[n] a local name, so the body reads as what
it does (``redis.call('HGET', room_key, 'state')``) and a key's position is written once.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_USES = re.compile(r"^-- uses: *(.+)$", re.MULTILINE)


def _walk(folder: Traversable) -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for item in folder.iterdir():
        if item.is_dir():
            found.update(_walk(item))
        elif item.name.endswith(".lua"):
            found[item.name.removesuffix(".lua")] = item
    return found


@cache
def files() -> dict[str, Traversable]:
    """Every script of the package by name; a name is unique across the whole package."""
    return _walk(resources.files("livecommerce"))


def preludes(text: str) -> tuple[str, ...]:
    declared = _USES.search(text.split("\n\n", 1)[0])
    if declared is None:
        return ()
    return tuple(name.strip() for name in declared.group(1).split(","))


@cache
def source(name: str) -> str:
    own = files()[name].read_text(encoding="utf-8")
    parts = [source(prelude) for prelude in preludes(own)]
    parts.append(own)
    return "\n".join(parts)


def register(client: Redis, name: str) -> AsyncScript:
    return client.register_script(source(name))


class Scripts:
    """The scripts of the room store (rooms, chat, moderation and sales share its connection)."""

    def __init__(self, client: Redis) -> None:
        def load(name: str) -> AsyncScript:
            return register(client, name)

        self.room_publish = load("room_publish")
        self.room_seq_raise = load("room_seq_raise")
        self.room_transition = load("room_transition")
        self.room_end = load("room_end")
        self.chat_post = load("chat_post")
        self.mod_apply = load("mod_apply")
        self.room_viewers = load("room_viewers")
        self.username_claim = load("username_claim")
        self.username_confirm = load("username_confirm")
        self.username_release = load("username_release")
        self.account_delete = load("account_delete")
        self.account_copy = load("account_copy")
        self.room_pin = load("room_pin")
        self.sale_start = load("sale_start")
        self.sale_end = load("sale_end")
        self.sale_reserve = load("sale_reserve")
        self.sale_release = load("sale_release")
        self.sale_reap = load("sale_reap")
        self.sale_waitlist = load("sale_waitlist")
        self.sale_confirm = load("sale_confirm")
