"""Demo data: a creator, a moderator, a viewer, products and a live room with a sale running
and two auction lots on its run sheet.

A flash sale ends (after ten minutes, or sold out); a newcomer who opens the demo later must
still find one running, so ``SaleKeeper`` starts another whenever the room has none.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from livecommerce.accounts.auth import Identity
from livecommerce.accounts.credentials import hash_password
from livecommerce.auctions.rules import AuctionDraft, Mode
from livecommerce.catalog.rules import Product, ProductDraft
from livecommerce.errors import Conflict, LiveCommerceError
from livecommerce.rooms.rules import RoomDraft, RoomState
from livecommerce.runtime.lifecycle import stop_task
from livecommerce.selling.rules import SaleDraft
from livecommerce.server import Server

log = logging.getLogger("livecommerce.demo")

DEMO_PASSWORD = "livecommerce"
DEMO_SKU = "DEMO-JUMPER"
DEMO_TITLE = "Demo show: autumn knitwear drop"
DEMO_DESCRIPTION = "A demo room made by `livecommerce demo`."
DEMO_SALE = SaleDraft("", price=2900, units=5, per_user_limit=1, duration_s=600, hold_s=120)
DEMO_LOT_S = 30
KEEP_EVERY_S = 1.0
_PEOPLE = {
    "creator": ("demo-creator", "Ada (creator)"),
    "moderator": ("demo-moderator", "Mo (moderator)"),
    "viewer": ("demo-viewer", "Vi (viewer)"),
}


async def create_demo(server: Server) -> tuple[dict[str, str], str]:
    """Accounts are reused across runs; each run opens a fresh live room."""
    assert server.account_store is not None
    assert server.gateway is not None
    accounts, auth = server.account_store, server.gateway.auth
    now = int(server.clock() * 1000)
    ids: dict[str, tuple[str, str]] = {}
    for role, (username, name) in _PEOPLE.items():
        account = {
            "id": server.ids.user(),
            "username": username,
            "display_name": name,
            "password_hash": hash_password(DEMO_PASSWORD),
            "created_at": str(now),
        }
        try:
            await accounts.create_account(account)
        except Conflict:
            existing = await accounts.account_by_username(username)
            assert existing is not None
            account = existing
        ids[role] = (account["id"], account["display_name"])
    assert server.rooms is not None
    creator = Identity(ids["creator"][0], ids["creator"][1], "account")
    draft = RoomDraft(DEMO_TITLE, "EUR", "en", DEMO_DESCRIPTION, scheduled_at=None)
    room = await server.rooms.create(creator, draft, moderators=(ids["moderator"][0],))
    await server.rooms.transition(creator, room, RoomState.LIVE)
    room = await server.rooms.room(room.id)
    products = await _demo_products(server, creator.id, now)
    assert server.reservations is not None
    await server.reservations.pin(creator, room, products[0].id)
    await server.reservations.start_sale(
        creator, room, replace(DEMO_SALE, product_id=products[0].id)
    )
    assert server.auctions is not None
    for product, starting_bid in ((products[2], 1000), (products[1], 500)):
        lot = AuctionDraft(product.id, starting_bid, DEMO_LOT_S, Mode.STANDARD, 10, reserve=0)
        await server.auctions.queue(creator, room, lot)  # on the run sheet: start in the studio
    tokens = {role: auth.issue(uid, name, now // 1000)[0] for role, (uid, name) in ids.items()}
    return tokens, room.id


_PRODUCTS = (
    (DEMO_SKU, "Chunky wool jumper", "Hand-knitted, undyed Norwegian wool.", 4900, 40),
    ("DEMO-BEANIE", "Merino beanie", "Soft, warm, one size.", 1900, 100),
    ("DEMO-SCARF", "Alpaca scarf", "Long, light and very warm.", 3500, 25),
)


_PRODUCTS_STOCK = tuple((sku, stock) for sku, _, _, _, stock in _PRODUCTS)


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
                draft.to_product(server.ids.product(), creator_id, now)
            )
        found.append(product)
    return found


class SaleKeeper:
    """Keeps a flash sale running in the demo room: when none is active (time up, sold out,
    stopped), it starts the demo sale again, topping the product's stock up first if a few
    sold-out runs have used it up. It stops looking once the show has ended."""

    def __init__(
        self,
        server: Server,
        room_id: str,
        *,
        every_s: float = KEEP_EVERY_S,
        draft: SaleDraft = DEMO_SALE,
    ) -> None:
        self.server = server
        self.room_id = room_id
        self.every_s = every_s
        self.draft = draft
        self.started = 0  # sales this keeper started
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="demo-sales")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                if not await self.keep():
                    return
            except LiveCommerceError as exc:  # Redis away, say: the next look tries again
                log.warning("demo sale not restarted: %s", exc.code)

    async def keep(self) -> bool:
        """One look: start a sale if the room has none. False once the show is over."""
        assert self.server.rooms is not None
        assert self.server.catalog is not None
        assert self.server.reservations is not None
        room = await self.server.rooms.room(self.room_id)
        if room.state is RoomState.ENDED:
            return False
        if room.state is not RoomState.LIVE:
            return True
        if await self.server.reservations.sales.room_sales(room.id, active_only=True):
            return True
        host = Identity(room.host_id, room.host_name, "account")
        products, _ = await self.server.catalog.products(host.id, limit=100)
        product = next((p for p in products if p.sku == DEMO_SKU), None)
        if product is None:
            return True  # the creator deleted it: nothing of ours to sell
        if product.stock < self.draft.units:
            now = int(self.server.clock() * 1000)
            stock = dict(_PRODUCTS_STOCK)[DEMO_SKU]
            await self.server.catalog.update_product(product, {"stock": stock}, now)
        sale = await self.server.reservations.start_sale(
            host, room, replace(self.draft, product_id=product.id)
        )
        self.started += 1
        log.info("demo sale started again", extra={"room": room.id, "sale": sale.id})
        return True
