"""Lua scripts: files next to this module, loaded once and called by SHA.

Scripts share code through preludes (``_publish.lua``, ``_sale.lua``), prepended when a
script is loaded; each script's own header names its KEYS, ARGV and results.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_PRELUDES: dict[str, tuple[str, ...]] = {
    "room_publish": ("_publish",),
    "room_transition": ("_publish",),
    "room_end": ("_publish",),
    "chat_post": ("_publish", "_gcra"),
    "rate_limit": ("_gcra",),
    "signin_attempt": ("_gcra",),
    "mod_apply": ("_publish",),
    "room_pin": ("_publish",),
    "sale_start": ("_publish",),
    "sale_end": ("_publish",),
    "sale_reserve": ("_sale", "_gcra"),
    "sale_release": ("_sale",),
    "sale_reap": ("_sale",),
    "sale_waitlist": ("_sale",),
    "sale_confirm": ("_publish", "_sale"),
    "stream_reap": ("_publish",),
    "stream_state": ("_publish",),
}


@cache
def source(name: str) -> str:
    package = resources.files("livecommerce.store")
    parts = [(package / f"{p}.lua").read_text(encoding="utf-8") for p in _PRELUDES.get(name, ())]
    parts.append((package / f"{name}.lua").read_text(encoding="utf-8"))
    return "\n".join(parts)


class Scripts:
    def __init__(self, client: Redis) -> None:
        def load(name: str) -> AsyncScript:
            return client.register_script(source(name))

        self.room_publish = load("room_publish")
        self.room_transition = load("room_transition")
        self.room_end = load("room_end")
        self.chat_post = load("chat_post")
        self.mod_apply = load("mod_apply")
        self.room_viewers = load("room_viewers")
        self.account_create = load("account_create")
        self.account_delete = load("account_delete")
        self.room_pin = load("room_pin")
        self.sale_start = load("sale_start")
        self.sale_end = load("sale_end")
        self.sale_reserve = load("sale_reserve")
        self.sale_release = load("sale_release")
        self.sale_reap = load("sale_reap")
        self.sale_waitlist = load("sale_waitlist")
        self.sale_confirm = load("sale_confirm")
