"""Lua scripts: files next to this module, loaded once and called by SHA."""

from __future__ import annotations

from functools import cache
from importlib import resources

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_PRELUDE = "_publish.lua"
_PUBLISHERS = frozenset({"room_publish", "room_transition", "chat_post"})


@cache
def source(name: str) -> str:
    """A script's text; scripts that publish get the shared ``publish`` prelude."""
    package = resources.files("livecommerce.store")
    text = (package / f"{name}.lua").read_text(encoding="utf-8")
    if name in _PUBLISHERS:
        text = (package / _PRELUDE).read_text(encoding="utf-8") + "\n" + text
    return text


class Scripts:
    def __init__(self, client: Redis) -> None:
        self.room_publish: AsyncScript = client.register_script(source("room_publish"))
        self.room_transition: AsyncScript = client.register_script(source("room_transition"))
        self.chat_post: AsyncScript = client.register_script(source("chat_post"))
        self.room_viewers: AsyncScript = client.register_script(source("room_viewers"))
        self.account_create: AsyncScript = client.register_script(source("account_create"))
