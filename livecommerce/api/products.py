"""Products over HTTP: a creator's catalog, by hand or imported from CSV or JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from livecommerce.api.services import identity, json_body, read_body, require_identity, services
from livecommerce.catalog.rules import (
    IMPORT_MAX_BYTES,
    Cursor,
    RowResult,
    import_kind,
    import_summary,
    parse_import,
    parse_product_draft,
    parse_product_patch,
)
from livecommerce.catalog.store import CatalogStore
from livecommerce.numbers import whole_in


def routes() -> list[BaseRoute]:
    """The catalog's routes, relative to /api/v1."""
    return [
        Route("/products", create_product, methods=["POST"]),
        Route("/products", list_products, methods=["GET"]),
        Route("/products/import", import_products, methods=["POST"]),
        Route("/products/{product_id}", get_product, methods=["GET"]),
        Route("/products/{product_id}", update_product, methods=["PATCH"]),
        Route("/products/{product_id}", delete_product, methods=["DELETE"]),
    ]


def catalog(request: Request) -> CatalogStore:
    """One CatalogStore per store client, kept on the app (its script is registered once)."""
    client = services(request).store.client
    found: CatalogStore | None = getattr(request.app.state, "catalog", None)
    if found is None or found.client is not client:
        found = CatalogStore(client)
        request.app.state.catalog = found
    return found


async def create_product(request: Request) -> JSONResponse:
    """
    summary: Add a product to the caller's catalog
    requestBody:
      content:
        application/json:
          schema:
            type: object
            required: [sku, title, price, currency, stock]
            properties:
              sku: {type: string, pattern: "^[A-Za-z0-9._-]{1,64}$"}
              title: {type: string, maxLength: 120}
              description: {type: string, maxLength: 2000}
              image_url: {type: string, format: uri, maxLength: 2048}
              price: {type: integer, minimum: 0, maximum: 1000000000000}
              currency: {type: string}
              stock: {type: integer, minimum: 0, maximum: 1000000000}
    responses:
      201: {description: the product}
      400: {description: bad_request}
      401: {description: unauthorized}
      409: {description: conflict (the caller has a product with this sku)}
    """
    svc = services(request)
    who = require_identity(request)
    draft = parse_product_draft(await json_body(request))
    product = draft.to_product(svc.ids.product(), who.id, svc.now_ms())
    stored = await catalog(request).create_product(product)
    return JSONResponse(stored.to_public(), status_code=201)


async def list_products(request: Request) -> JSONResponse:
    """
    summary: The caller's own products, newest first
    parameters:
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
      - {name: cursor, in: query, schema: {type: string}}
    responses:
      200: {description: "{products: [product], next_cursor}"}
      400: {description: bad_request}
      401: {description: unauthorized}
    """
    who = require_identity(request)
    limit_raw = request.query_params.get("limit", "50")
    limit = whole_in(limit_raw, "limit", 1, 100)
    cursor_raw = request.query_params.get("cursor")
    cursor = Cursor.parse(cursor_raw) if cursor_raw is not None else None
    products, following = await catalog(request).products(who.id, limit, cursor)
    return JSONResponse(
        {
            "products": [p.to_public() for p in products],
            "next_cursor": None if following is None else str(following),
        }
    )


async def get_product(request: Request) -> JSONResponse:
    """
    summary: One product (public), with its rating {average, count}
    responses:
      200: {description: the product}
      404: {description: not_found}
    """
    identity(request, required=False)
    product = await catalog(request).product(request.path_params["product_id"])
    reviews = services(request).reviews
    if reviews is None:
        return JSONResponse(product.to_public())
    rating = await reviews.store.product_rating(product.creator_id, product.id)
    return JSONResponse({**product.to_public(), "rating": rating.summary()})


async def update_product(request: Request) -> JSONResponse:
    """
    summary: Change some fields of a product (its creator only)
    requestBody:
      content:
        application/json:
          schema:
            type: object
            minProperties: 1
            properties:
              sku: {type: string}
              title: {type: string}
              description: {type: string}
              image_url: {type: string}
              price: {type: integer}
              currency: {type: string}
              stock: {type: integer}
    responses:
      200: {description: the product}
      400: {description: bad_request}
      401: {description: unauthorized}
      403: {description: forbidden}
      404: {description: not_found}
      409: {description: conflict (another of the caller's products has this sku)}
    """
    svc = services(request)
    who = require_identity(request)
    store = catalog(request)
    product = await store.product(request.path_params["product_id"])
    product.require_owner(who.id)
    changes = parse_product_patch(await json_body(request))
    updated = await store.update_product(product, changes, svc.now_ms())
    return JSONResponse(updated.to_public())


async def delete_product(request: Request) -> Response:
    """
    summary: Remove a product (its creator only)
    responses:
      204: {description: deleted}
      401: {description: unauthorized}
      403: {description: forbidden}
      404: {description: not_found}
      409: {description: product_on_sale (a flash sale holds its units; delete after it ends)}
    """
    who = require_identity(request)
    store = catalog(request)
    product = await store.product(request.path_params["product_id"])
    product.require_owner(who.id)
    await store.delete_product(product)
    return Response(status_code=204)


async def import_products(request: Request) -> JSONResponse:
    """
    summary: Import a catalog file; rows are upserted by sku, bad rows refused one by one
    description: >
      CSV (text/csv) with a header row naming the columns sku, title, description,
      image_url, price (minor units) or price_major (such as 12.50), currency and stock;
      or JSON (application/json), a list of products or {"products": [...]}. At most
      2 MiB, 5,000 rows and 8 KiB a row.
    requestBody:
      content:
        text/csv: {schema: {type: string}}
        application/json: {schema: {type: object}}
    responses:
      200: {description: "{created, updated, refused, rows: [{row, sku, status, id?, reason?}]}"}
      400: {description: bad_request (not UTF-8, unreadable, no header, unknown column)}
      401: {description: unauthorized}
      413: {description: too_large}
    """
    svc = services(request)
    who = require_identity(request)
    content_type = request.headers.get("content-type")
    import_kind(content_type)  # refuse a wrong type before reading 2 MiB
    report = parse_import(await read_body(request, IMPORT_MAX_BYTES), content_type)
    results = await catalog(request).import_products(
        who.id, report.accepted, svc.now_ms(), new_id=svc.ids.product
    )
    results += [RowResult(r.row, r.sku, "refused", reason=r.reason) for r in report.refused]
    return JSONResponse(import_summary(results))
