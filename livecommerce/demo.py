"""Demo data: a creator, a moderator, a viewer, products and a live room with a sale running."""

from __future__ import annotations

import secrets

from livecommerce.accounts import hash_password
from livecommerce.auth import Identity
from livecommerce.catalog import Product, ProductDraft
from livecommerce.errors import Conflict
from livecommerce.rooms import Room, RoomState
from livecommerce.sales import SaleDraft
from livecommerce.server import Server
from livecommerce.store.catalog_store import new_product_id

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
    room = await store.room(room.id)
    creator = Identity(ids["creator"][0], ids["creator"][1], "account")
    products = await _demo_products(server, creator.id, now)
    assert server.reservations is not None
    await server.reservations.pin(creator, room, products[0].id)
    draft = SaleDraft(
        products[0].id, price=2900, units=5, per_user_limit=1, duration_s=600, hold_s=120
    )
    await server.reservations.start_sale(creator, room, draft)
    tokens = {role: auth.issue(uid, name, now // 1000)[0] for role, (uid, name) in ids.items()}
    return tokens, room.id


_PRODUCTS = (
    ("DEMO-JUMPER", "Chunky wool jumper", "Hand-knitted, undyed Norwegian wool.", 4900, 40),
    ("DEMO-BEANIE", "Merino beanie", "Soft, warm, one size.", 1900, 100),
    ("DEMO-SCARF", "Alpaca scarf", "Long, light and very warm.", 3500, 25),
)


async def _demo_products(server: Server, creator_id: str, now: int) -> list[Product]:
    """The demo creator's products, made once and found by sku on later runs."""
    assert server.catalog is not None
    existing, _ = await server.catalog.products(creator_id, limit=100)
    by_sku = {p.sku: p for p in existing}
    found = []
    for sku, title, description, price, stock in _PRODUCTS:
        product = by_sku.get(sku)
        if product is None:
            draft = ProductDraft(sku, title, price, "EUR", stock, description=description)
            product = await server.catalog.create_product(
                draft.to_product(new_product_id(), creator_id, now)
            )
        found.append(product)
    return found
