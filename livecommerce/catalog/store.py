"""The catalog in Redis: each creator's products under one hash tag, skus unique per creator.

A creator's keys share the tag ``{c:<creator_id>}``, so ``product_upsert.lua`` claims a sku
and writes the product in one atomic step, also on a Redis Cluster. Finding a product by id
alone needs ``lc:product_owner`` (product id -> creator id), which lives in another slot and
so is written outside the script: before a create and after a delete. An entry whose
product is gone (a create refused, a crash between the two steps) reads as "not found".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, cast

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from livecommerce.catalog.rules import (
    Cursor,
    ImportRow,
    ImportStatus,
    Product,
    RowResult,
    changes_to_hash,
    product_from_hash,
    product_to_hash,
)
from livecommerce.errors import Conflict, NotFound, ProductOnSale
from livecommerce.runtime.ids import ProductId
from livecommerce.store.connection import as_strings, as_text, guarded
from livecommerce.store.keys import (
    owners_key,
    product_key,
    product_sales_key,
    products_key,
    skus_key,
    stock_move_key,
)
from livecommerce.store.scripts import register

# Optimistic steps (a delete racing an update, an import racing a create) retry this often.
ATTEMPTS = 3
# Rows of an import pipelined together: big enough to save round trips, small enough that
# one batch's replies stay a few hundred KiB.
IMPORT_BATCH = 500
WRITE_BATCH = 64  # product writes of an import in flight at once


def _outcome(reply: Any) -> tuple[int, Any]:
    """A ``product_upsert`` reply: (1, the product), (0, the sku's holder) or (-1, None)."""
    status = int(reply[0])
    if status == 1:
        flat = [as_text(v) for v in reply[1:]]
        return 1, product_from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
    if status == 0:
        return 0, as_text(reply[1])
    return -1, None


def _flat(mapping: Mapping[str, str]) -> list[str]:
    flat: list[str] = []
    for name, value in mapping.items():
        flat += [name, value]
    return flat


class CatalogStore:
    def __init__(self, client: Redis) -> None:
        self.client = client
        self._upsert: AsyncScript = register(client, "product_upsert")
        self._stock: AsyncScript = register(client, "product_stock")

    async def _write(
        self,
        creator_id: str,
        product_id: str,
        mode: str,
        created_at: int,
        data: dict[str, str],
    ) -> Any:
        return await self._upsert(
            keys=[
                product_key(creator_id, product_id),
                products_key(creator_id),
                skus_key(creator_id),
            ],
            args=[product_id, mode, created_at, *_flat(data)],
        )

    @guarded
    async def move_stock(
        self, creator_id: str, product_id: str, sale_id: str, units: int, direction: str, now: int
    ) -> tuple[bool, int]:
        """Take a sale's units from stock (or give unsold ones back) exactly once per sale.

        (True, stock) when the move is made, now or before; (False, stock) when stock is short.
        """
        marker = stock_move_key(creator_id, sale_id, direction)
        raw = await self._stock(
            keys=[
                product_key(creator_id, product_id),
                marker,
                product_sales_key(creator_id, product_id),
            ],
            args=[units, direction, now, sale_id],
        )
        if int(raw[0]) == 0:
            if as_text(raw[1]) == "not_found":
                raise NotFound(f"product {product_id} does not exist")
            return False, int(raw[2])
        return True, int(raw[1])

    async def _claim(self, product_id: str, creator_id: str) -> bool:
        """Record the owner of a new id; False when the id is someone's already."""
        return bool(await self.client.hsetnx(owners_key(), product_id, creator_id))

    @guarded
    async def create_product(self, product: Product) -> Product:
        if not await self._claim(product.id, product.creator_id):
            raise Conflict(f"a product with id {product.id} exists")
        status, value = _outcome(
            await self._write(
                product.creator_id,
                product.id,
                "create",
                product.created_at,
                product_to_hash(product),
            )
        )
        if status == 1:
            stored: Product = value
            return stored
        await self.client.hdel(owners_key(), product.id)
        if status == 0:
            raise Conflict(f"you already have a product with sku {product.sku!r}", product_id=value)
        raise Conflict(f"a product with id {product.id} exists")

    @guarded
    async def product(self, product_id: str) -> Product:
        creator_id = await self.client.hget(owners_key(), product_id)
        if creator_id is not None:
            raw = await self.client.hgetall(product_key(as_text(creator_id), product_id))
            if raw:
                return product_from_hash(as_strings(raw))
        raise NotFound(f"product {product_id} does not exist")

    @guarded
    async def products(
        self, creator_id: str, limit: int, cursor: Cursor | None = None
    ) -> tuple[list[Product], Cursor | None]:
        """A creator's products, newest first, and the cursor of the next page (or None)."""
        top: int | str = "+inf" if cursor is None else cursor.before
        skip = 0 if cursor is None else cursor.skip
        entries = cast(
            list[tuple[bytes, float]],
            await self.client.zrevrangebyscore(
                products_key(creator_id), top, "-inf", start=skip, num=limit + 1, withscores=True
            ),
        )
        page = entries[:limit]
        following = None
        if len(entries) > limit:
            last = int(page[-1][1])
            same = sum(1 for _, score in page if int(score) == last)
            following = Cursor(last, same + (skip if cursor and cursor.before == last else 0))
        async with self.client.pipeline(transaction=False) as pipe:
            for member, _score in page:
                pipe.hgetall(product_key(creator_id, as_text(member)))
            found = await pipe.execute()
        return [product_from_hash(as_strings(raw)) for raw in found if raw], following

    @guarded
    async def update_product(
        self, product: Product, changes: Mapping[str, str | int], now: int
    ) -> Product:
        """Set only the changed fields, so concurrent patches of other fields both stick."""
        status, value = _outcome(
            await self._write(
                product.creator_id,
                product.id,
                "update",
                product.created_at,
                changes_to_hash(changes, now),
            )
        )
        if status == 1:
            stored: Product = value
            return stored
        if status == 0:
            raise Conflict(
                f"you already have a product with sku {changes['sku']!r}", product_id=value
            )
        raise NotFound(f"product {product.id} does not exist")

    @guarded
    async def delete_product(self, product: Product) -> None:
        key = product_key(product.creator_id, product.id)
        selling = product_sales_key(product.creator_id, product.id)
        for _ in range(ATTEMPTS):
            async with self.client.pipeline(transaction=True) as pipe:
                try:
                    # A concurrent update (a sku move) or a sale starting retries us.
                    await pipe.watch(key, selling)
                    sku = await pipe.hget(key, "sku")
                    if sku is None:
                        raise NotFound(f"product {product.id} does not exist")
                    if await pipe.scard(selling):
                        raise ProductOnSale(
                            "the product is in a flash sale; delete it once the sale has ended"
                        )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.delete(key)
                    pipe.zrem(products_key(product.creator_id), product.id)
                    pipe.hdel(skus_key(product.creator_id), as_text(sku))
                    await pipe.execute()
                except redis_errors.WatchError:
                    continue
            await self.client.hdel(owners_key(), product.id)
            return
        raise Conflict("the product kept changing while being deleted; try again")

    @guarded
    async def import_products(
        self,
        creator_id: str,
        rows: list[ImportRow],
        now: int,
        new_id: Callable[[], ProductId],
    ) -> list[RowResult]:
        """Upsert each accepted row by sku: an existing sku is updated, a new one created."""
        results: list[RowResult] = []
        for start in range(0, len(rows), IMPORT_BATCH):
            batch = rows[start : start + IMPORT_BATCH]
            results += await self._import_batch(creator_id, batch, now, new_id)
        return results

    async def _import_batch(
        self, creator_id: str, rows: list[ImportRow], now: int, new_id: Callable[[], ProductId]
    ) -> list[RowResult]:
        """Three round trips for a whole batch: look the skus up, claim the new ids, run one
        script per row in a pipeline. A row that lost a race goes again on its own."""
        drafts = [row.draft for row in rows if row.draft is not None]
        assert len(drafts) == len(rows), "only accepted rows are imported"
        holders = await self.client.hmget(skus_key(creator_id), [d.sku for d in drafts])
        plans: list[tuple[str, str, dict[str, str]]] = []
        for draft, holder in zip(drafts, holders, strict=True):
            if holder is not None:
                plans.append(("update", as_text(holder), changes_to_hash(draft.changes(), now)))
            else:
                product = draft.to_product(new_id(), creator_id, now)
                plans.append(("create", product.id, product_to_hash(product)))
        # Claim the new ids first (a product never exists without its owner entry); an id
        # that is taken already sends its row down the one-by-one path with another id.
        new = [i for i, (mode, _, _) in enumerate(plans) if mode == "create"]
        claimed: list[bool] = [True] * len(plans)
        if new:
            async with self.client.pipeline(transaction=False) as pipe:
                for i in new:
                    pipe.hsetnx(owners_key(), plans[i][1], creator_id)
                for i, won in zip(new, await pipe.execute(), strict=True):
                    claimed[i] = bool(won)
        # Concurrent calls rather than one pipeline: a cluster client pipelines no scripts.
        todo = [plan for plan, ok in zip(plans, claimed, strict=True) if ok]
        done: list[Any] = []
        for start in range(0, len(todo), WRITE_BATCH):
            done += await asyncio.gather(
                *(
                    self._write(creator_id, product_id, mode, now, data)
                    for mode, product_id, data in todo[start : start + WRITE_BATCH]
                )
            )
        replies = iter(done)
        results: list[RowResult] = []
        for row, draft, (mode, product_id, _), ok in zip(rows, drafts, plans, claimed, strict=True):
            status, value = _outcome(next(replies)) if ok else (-1, None)
            if status == 1:
                status_name: ImportStatus = "created" if mode == "create" else "updated"
                results.append(RowResult(row.row, draft.sku, status_name, product_id=product_id))
                continue
            if mode == "create" and ok:
                await self.client.hdel(owners_key(), product_id)
            holder = value if status == 0 else None  # created meanwhile, or gone meanwhile
            results.append(await self._import_row(creator_id, row, holder, now, new_id))
        return results

    async def _import_row(
        self,
        creator_id: str,
        row: ImportRow,
        holder: str | None,
        now: int,
        new_id: Callable[[], ProductId],
    ) -> RowResult:
        draft = row.draft
        assert draft is not None
        for _ in range(ATTEMPTS):
            if holder is not None:
                data = changes_to_hash(draft.changes(), now)
                status, value = _outcome(await self._write(creator_id, holder, "update", now, data))
                if status == 1:
                    return RowResult(row.row, draft.sku, "updated", product_id=holder)
                holder = value if status == 0 else None  # moved to another product, or gone
                continue
            product = draft.to_product(new_id(), creator_id, now)
            if not await self._claim(product.id, creator_id):
                continue  # an id clash: try another
            status, value = _outcome(
                await self._write(creator_id, product.id, "create", now, product_to_hash(product))
            )
            if status == 1:
                return RowResult(row.row, draft.sku, "created", product_id=product.id)
            await self.client.hdel(owners_key(), product.id)
            holder = value if status == 0 else None  # created meanwhile, or an id clash
        reason = "the sku changed while importing; import the row again"
        return RowResult(row.row, draft.sku, "refused", reason=reason)
