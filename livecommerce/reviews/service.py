"""The review desk: who may rate what, and who may hide what was said.

Only an order's buyer rates its products, and only while it stands paid. The order lives in
its room's slot and the review in its seller's, so the order is read first and checked here;
the write itself (review and both ratings) is one script in the seller's slot. A stranger
asking about someone else's order hears exactly what they would of an order that does not
exist: order ids are not to be confirmed by guessing.

A refund after a review leaves the review standing (the buyer had the product in hand);
deleting an account keeps its reviews' stars and erases their words and author.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from livecommerce.accounts.auth import Identity
from livecommerce.catalog.store import CatalogStore
from livecommerce.errors import (
    BlockedWord,
    Forbidden,
    NotFound,
    NotReviewable,
    ProductNotInOrder,
    ReviewNotFound,
    Unauthorized,
)
from livecommerce.events import Event
from livecommerce.reviews.rules import (
    PAGE_MAX,
    Rating,
    ReviewDraft,
    may_moderate,
    pair,
    public_review,
    reviewable,
)
from livecommerce.reviews.store import ReviewStore
from livecommerce.rooms.store import RoomStore
from livecommerce.runtime.ids import Ids
from livecommerce.selling.checkout import Checkout
from livecommerce.store.limits import Limit, Limiter

REPORT_LIMIT = Limit("review_reports", 10, 10)  # a few a minute per person: reports, not a flood
_NO_ORDER = "no order {} of yours"


class Reviews:
    def __init__(
        self,
        store: ReviewStore,
        checkout: Checkout,
        catalog: CatalogStore,
        *,
        rooms: RoomStore,
        screen: Callable[[str, str], Awaitable[None]],
        limiter: Limiter,
        is_admin: Callable[[str], Awaitable[bool]],
        is_deleted: Callable[[str], Awaitable[bool]],
        clock: Callable[[], float] = time.time,
        ids: Ids | None = None,
    ) -> None:
        self.store = store
        self.checkout = checkout
        self.catalog = catalog
        self.rooms = rooms
        self.screen = screen
        self.limiter = limiter
        self.is_admin = is_admin
        self.is_deleted = is_deleted
        self.clock = clock
        self.ids = ids or Ids()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def _own_order(self, who: Identity, order_id: str) -> tuple[Event, str]:
        """The buyer's order and its seller; the same NotFound for a stranger and for nobody."""
        try:
            room_id = await self.checkout.room_of_order(order_id)
            order = await self.checkout.order(room_id, order_id)
        except NotFound:
            raise NotFound(_NO_ORDER.format(order_id[:80])) from None
        if order.get("buyer", {}).get("id") != who.id:
            raise NotFound(_NO_ORDER.format(order_id[:80]))
        room = await self.rooms.room(room_id)
        return order, room.host_id

    @staticmethod
    def _line(order: Event, product_id: str) -> Event:
        for line in order.get("lines", []):
            if line.get("product_id") == product_id:
                return dict(line)
        raise ProductNotInOrder(f"product {product_id[:80]} is not in order {order['id']}")

    async def put(
        self, who: Identity, order_id: str, product_id: str, draft: ReviewDraft
    ) -> tuple[Event, bool]:
        """The buyer's review of one product of their order, and whether it is new."""
        order, seller_id = await self._own_order(who, order_id)
        line = self._line(order, product_id)
        if not reviewable(order["state"]):
            raise NotReviewable(
                f"a {order['state']} order cannot be reviewed", state=order["state"]
            )
        if draft.text:
            try:
                await self.screen(order["room_id"], draft.text)
            except BlockedWord:
                raise BlockedWord("your review was not saved: it contains a blocked word") from None
        now = self.now_ms()
        fresh: Event = {
            "id": self.ids.review(),
            "order_id": order_id,
            "room_id": order["room_id"],
            "product_id": product_id,
            "product_title": line.get("title", ""),
            "seller_id": seller_id,
            "reviewer": {"id": who.id, "name": who.name},
            "product_rating": draft.product_rating,
            "seller_rating": draft.seller_rating,
            "text": draft.text,
            "hidden": False,
            "reports": 0,
            "created_at": now,
            "updated_at": now,
        }
        written = await self.store.put(seller_id, pair(order_id, product_id), fresh, now)
        if written.review is None:  # the pair's review is another's: not this buyer's order
            raise NotFound(_NO_ORDER.format(order_id[:80]))
        return self.own(written.review), written.status == 1

    async def delete(self, who: Identity, order_id: str, product_id: str) -> None:
        order, seller_id = await self._own_order(who, order_id)
        self._line(order, product_id)
        done, _reason = await self.store.delete(
            seller_id, product_id, pair(order_id, product_id), who.id
        )
        if not done:
            raise ReviewNotFound(f"you have not reviewed {product_id[:80]} of this order")

    async def mine(self, who: Identity, order_id: str, product_id: str) -> Event:
        order, seller_id = await self._own_order(who, order_id)
        self._line(order, product_id)
        review = await self.store.by_pair(seller_id, pair(order_id, product_id))
        if review is None or review["reviewer"]["id"] != who.id:
            raise ReviewNotFound(f"you have not reviewed {product_id[:80]} of this order")
        return self.own(review)

    @staticmethod
    def own(review: Event) -> Event:
        """The author's view: their own words even when hidden from everyone else, and the
        order the review belongs to."""
        return {**public_review(review), "text": review.get("text", ""),
                "order_id": review["order_id"]}  # fmt: skip

    # Reading ---------------------------------------------------------------------------

    async def _public(self, reviews: list[Event]) -> list[Event]:
        people = {r["reviewer"]["id"] for r in reviews} - {"deleted"}
        deleted = {p for p in people if await self.is_deleted(p)}
        return [public_review(r, r["reviewer"]["id"] in deleted) for r in reviews]

    async def product_rating(self, product_id: str) -> Rating:
        product = await self.catalog.product(product_id)
        return await self.store.product_rating(product.creator_id, product_id)

    async def of_product(self, product_id: str, offset: int, limit: int = 20) -> Event:
        product = await self.catalog.product(product_id)
        rating = await self.store.product_rating(product.creator_id, product_id)
        limit = min(limit, PAGE_MAX)
        page = await self.store.of_product(product.creator_id, product_id, offset, limit)
        return {
            "product_id": product_id,
            "rating": rating.summary(),
            "reviews": await self._public(page),
            "next_cursor": str(offset + limit) if len(page) == limit else None,
        }

    async def seller_rating(self, seller_id: str) -> Rating:
        return await self.store.seller_rating(seller_id)

    async def of_seller(
        self, who: Identity | None, seller_id: str, offset: int, *, reported: bool, limit: int = 20
    ) -> Event:
        limit = min(limit, PAGE_MAX)
        if not reported:
            page = await self.store.of_seller(seller_id, offset, limit)
            reviews = await self._public(page)
        else:
            await self._moderating(who, seller_id)
            page = await self.store.reported(seller_id, offset, limit)
            # The moderator judges the words as written, and sees how many reported them.
            reviews = [
                {**r, "text": page[i].get("text", ""), "reports": page[i].get("reports", 0)}
                for i, r in enumerate(await self._public(page))
            ]
        return {
            "seller_id": seller_id,
            "reviews": reviews,
            "next_cursor": str(offset + limit) if len(page) == limit else None,
        }

    # Moderation ------------------------------------------------------------------------

    async def _moderating(self, who: Identity | None, seller_id: str) -> None:
        if who is None:
            raise Unauthorized("sign in first")
        if not may_moderate(seller_id, who.id, admin=await self.is_admin(who.id)):
            raise Forbidden("only the seller or an operator moderates these reviews")

    async def _seller_of(self, review_id: str) -> str:
        seller_id = await self.store.seller_of(review_id)
        if seller_id is None:
            raise ReviewNotFound(f"review {review_id[:80]} does not exist")
        return seller_id

    async def report(self, who: Identity, review_id: str) -> Event:
        seller_id = await self._seller_of(review_id)
        await self.limiter.check(REPORT_LIMIT, who.id)
        status = await self.store.report(seller_id, review_id, who.id, self.now_ms())
        if status == 0:
            raise ReviewNotFound(f"review {review_id[:80]} does not exist")
        return {"id": review_id, "reported": True}

    async def judge(self, who: Identity, review_id: str, *, hide: bool) -> Event:
        """Hide a review's text (its stars still count), or show it again; audited."""
        seller_id = await self._seller_of(review_id)
        await self._moderating(who, seller_id)
        review = await self.store.review(seller_id, review_id)
        if review is None:
            raise ReviewNotFound(f"review {review_id[:80]} does not exist")
        entry: Event = {
            "at": self.now_ms(),
            "actor": {"id": who.id, "name": who.name},
            "action": "review.hide" if hide else "review.show",
            "target": {"review_id": review_id, "reviewer": review["reviewer"],
                       "product_id": review["product_id"]},
        }  # fmt: skip
        _status, judged = await self.store.judge(seller_id, review_id, hide, entry)
        if judged is None:
            raise ReviewNotFound(f"review {review_id[:80]} does not exist")
        return public_review(judged)

    async def audit(self, who: Identity, seller_id: str) -> list[Event]:
        await self._moderating(who, seller_id)
        return await self.store.audit(seller_id)

    # A person's data ------------------------------------------------------------------

    async def of_user(self, user_id: str, limit: int) -> list[Event]:
        return [self.own(r) for r in await self.store.of_user(user_id, limit)]

    async def forget(self, user_id: str) -> None:
        await self.store.erase_user(user_id)
