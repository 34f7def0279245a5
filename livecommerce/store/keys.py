"""Key names. Every key of a room shares the hash tag ``{r:<id>}`` so each room's scripts
touch one slot and run unchanged on a Redis Cluster."""

from __future__ import annotations

PREFIX = "lc"


def room(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:room"


def room_seq(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:seq"


def room_events(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:events"


def room_viewers(room_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:viewers"


def room_chat_rate(room_id: str, user_id: str) -> str:
    return f"{PREFIX}:{{r:{room_id}}}:rate:chat:{user_id}"


def room_channel(room_id: str) -> str:
    return f"{PREFIX}:room:{room_id}"


def rooms_index(state: str) -> str:
    return f"{PREFIX}:rooms:{state}"


def rooms_by_host(host_id: str) -> str:
    return f"{PREFIX}:rooms:host:{host_id}"


# Accounts share one tag so that claiming a username and writing the account is atomic.
def accounts_by_username() -> str:
    return f"{PREFIX}:{{acct}}:by_username"


def account(account_id: str) -> str:
    return f"{PREFIX}:{{acct}}:account:{account_id}"
