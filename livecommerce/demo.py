"""Demo data: a creator, a moderator, a viewer and a live room, made through the store."""

from __future__ import annotations

import secrets

from livecommerce.accounts import hash_password
from livecommerce.errors import Conflict
from livecommerce.rooms import Room, RoomState
from livecommerce.server import Server

DEMO_PASSWORD = "livecommerce"
_PEOPLE = {
    "creator": ("demo-creator", "Ada (creator)"),
    "moderator": ("demo-moderator", "Mo (moderator)"),
    "viewer": ("demo-viewer", "Vi (viewer)"),
}


async def create_demo(server: Server) -> tuple[dict[str, str], str]:
    """Accounts are reused across runs; each run opens a fresh live room."""
    assert server.store is not None
    assert server.gateway is not None
    store, auth = server.store, server.gateway.auth
    now = int(server.clock() * 1000)
    ids: dict[str, tuple[str, str]] = {}
    for role, (username, name) in _PEOPLE.items():
        account = {
            "id": "u_" + secrets.token_urlsafe(9),
            "username": username,
            "display_name": name,
            "password_hash": hash_password(DEMO_PASSWORD),
            "created_at": str(now),
        }
        try:
            await store.create_account(account)
        except Conflict:
            existing = await store.account_by_username(username)
            assert existing is not None
            account = existing
        ids[role] = (account["id"], account["display_name"])
    room = Room(
        id="r_" + secrets.token_urlsafe(9),
        title="Demo show: autumn knitwear drop",
        host_id=ids["creator"][0],
        host_name=ids["creator"][1],
        currency="EUR",
        locale="en",
        created_at=now,
        description="A demo room made by `livecommerce demo`.",
        epoch=secrets.token_hex(4),
        moderators=(ids["moderator"][0],),
    )
    await store.create_room(room)
    await store.transition_room(
        room, RoomState.LIVE, now, {"type": "room.state", "state": "live", "at": now}
    )
    tokens = {role: auth.issue(uid, name, now // 1000)[0] for role, (uid, name) in ids.items()}
    return tokens, room.id
