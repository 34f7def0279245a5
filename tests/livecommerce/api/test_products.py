"""A creator builds a catalog over HTTP, by hand or from a file; others can only look."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import redis
from redis.asyncio import Redis

from livecommerce.catalog.rules import parse_import, product_to_hash
from livecommerce.catalog.rules import parse_product_draft as draft_of
from livecommerce.catalog.store import CatalogStore
from livecommerce.runtime.ids import ProductId
from livecommerce.store.keys import owners_key, product_key, products_key, skus_key
from tests.helpers import User, sign_up

HEADER = "sku,title,description,image_url,price,currency,stock"
UNRATED = {"rating": {"average": 0.0, "count": 0}}  # a public product carries its rating


def a_product(**fields: Any) -> dict[str, Any]:
    return {"sku": "KNIT-01", "title": "Wool jumper", "price": 4990, "currency": "EUR",
            "stock": 12, **fields}  # fmt: skip


async def add_product(http: httpx.AsyncClient, creator: User, **fields: Any) -> dict[str, Any]:
    created = await http.post("/api/v1/products", json=a_product(**fields), headers=creator.headers)
    assert created.status_code == 201, created.text
    product: dict[str, Any] = created.json()
    return product


async def import_file(
    http: httpx.AsyncClient, creator: User, content: bytes | str, content_type: str = "text/csv"
) -> httpx.Response:
    return await http.post(
        "/api/v1/products/import",
        content=content,
        headers={**creator.headers, "Content-Type": content_type},
    )


async def my_products(http: httpx.AsyncClient, creator: User, **params: Any) -> dict[str, Any]:
    listed = await http.get("/api/v1/products", params=params, headers=creator.headers)
    assert listed.status_code == 200, listed.text
    body: dict[str, Any] = listed.json()
    return body


async def test_a_creator_adds_changes_and_removes_a_product(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    product = await add_product(
        http, ada, title=" Wool jumper ", image_url="https://cdn.example/jumper.jpg"
    )
    assert product["id"].startswith("p_")
    assert (product["creator_id"], product["title"], product["price"]) == (
        ada.id,
        "Wool jumper",
        4990,
    )
    assert product["created_at"] == product["updated_at"]

    public = await http.get(f"/api/v1/products/{product['id']}")
    assert (public.status_code, public.json()) == (200, {**product, **UNRATED})

    patched = await http.patch(
        f"/api/v1/products/{product['id']}", json={"price": 3990, "stock": 0}, headers=ada.headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["price"], patched.json()["stock"]) == (3990, 0)
    assert patched.json()["title"] == "Wool jumper"
    assert patched.json()["updated_at"] >= product["updated_at"]

    mine = await my_products(http, ada)
    assert [p["id"] for p in mine["products"]] == [product["id"]]
    assert mine["next_cursor"] is None

    deleted = await http.delete(f"/api/v1/products/{product['id']}", headers=ada.headers)
    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = await http.get(f"/api/v1/products/{product['id']}")
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    assert (await my_products(http, ada))["products"] == []
    # The sku is free again.
    await add_product(http, ada)


async def test_a_sku_is_unique_per_creator(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    bea = await sign_up(http, "Bea")
    first = await add_product(http, ada, sku="TEA-1")
    again = await http.post("/api/v1/products", json=a_product(sku="TEA-1"), headers=ada.headers)
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    assert again.json()["product_id"] == first["id"]
    await add_product(http, bea, sku="TEA-1")  # another creator's catalog is another namespace

    second = await add_product(http, ada, sku="TEA-2")
    clash = await http.patch(
        f"/api/v1/products/{second['id']}", json={"sku": "TEA-1"}, headers=ada.headers
    )
    assert (clash.status_code, clash.json()["code"]) == (409, "conflict")
    moved = await http.patch(
        f"/api/v1/products/{second['id']}", json={"sku": "TEA-3"}, headers=ada.headers
    )
    assert moved.json()["sku"] == "TEA-3"
    await add_product(http, ada, sku="TEA-2")  # the old sku was let go


async def test_someone_elses_product_cannot_be_changed(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    mallory = await sign_up(http, "Mallory")
    product = await add_product(http, ada)
    url = f"/api/v1/products/{product['id']}"
    patch = await http.patch(url, json={"price": 1}, headers=mallory.headers)
    assert (patch.status_code, patch.json()["code"]) == (403, "forbidden")
    delete = await http.delete(url, headers=mallory.headers)
    assert (delete.status_code, delete.json()["code"]) == (403, "forbidden")
    assert (await http.get(url)).json() == {**product, **UNRATED}
    assert (await my_products(http, mallory))["products"] == []


async def test_writes_need_sign_in(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    product = await add_product(http, ada)
    url = f"/api/v1/products/{product['id']}"
    csv = {"Content-Type": "text/csv"}
    forged = {"Authorization": "Bearer forged"}
    answers = [
        await http.post("/api/v1/products", json=a_product(sku="X-1")),
        await http.get("/api/v1/products"),
        await http.patch(url, json={"price": 1}),
        await http.delete(url),
        await http.post("/api/v1/products/import", content=HEADER, headers=csv),
        await http.post("/api/v1/products", json=a_product(sku="X-2"), headers=forged),
        await http.delete(url, headers=forged),
    ]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(401, "unauthorized")] * 7
    assert (await http.get(url)).json() == {**product, **UNRATED}


async def test_an_unknown_product_is_404(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    for answer in [
        await http.get("/api/v1/products/p_missing"),
        await http.patch("/api/v1/products/p_missing", json={"price": 1}, headers=ada.headers),
        await http.delete("/api/v1/products/p_missing", headers=ada.headers),
    ]:
        assert (answer.status_code, answer.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"price": -100}, "'price' must not be negative"),
        ({"price": 49.9}, "'price' is in minor units (cents) and must be whole, not 49.9"),
        ({"price": "49.90"}, "'price' must be an integer, not a string"),
        ({"price": True}, "'price' must be an integer, not true or false"),
        ({"currency": "XYZ"}, "'currency' 'XYZ' is not one of the ISO 4217 codes, such as EUR"),
        ({"stock": -1}, "'stock' must not be negative"),
        ({"sku": "no spaces"}, "'sku' must be 1 to 64 characters"),
        ({"title": "Wool \u202erepmuj"}, "'title' holds a control or invisible character (U+202E)"),
        ({"description": "Soft\u200bwool"}, "'description' holds a control or invisible character"),
        ({"image_url": "javascript:alert(1)"}, "'image_url' must be an absolute https://"),
    ],
)
async def test_bad_products_are_refused_with_the_reason(
    http: httpx.AsyncClient, fields: dict[str, Any], detail: str
) -> None:
    ada = await sign_up(http, "Ada")
    created = await http.post("/api/v1/products", json=a_product(**fields), headers=ada.headers)
    assert (created.status_code, created.json()["code"]) == (400, "bad_request")
    assert detail in created.json()["detail"]
    product = await add_product(http, ada)
    patched = await http.patch(
        f"/api/v1/products/{product['id']}", json=fields, headers=ada.headers
    )
    assert (patched.status_code, patched.json()["code"]) == (400, "bad_request")
    assert detail in patched.json()["detail"]
    assert (await http.get(f"/api/v1/products/{product['id']}")).json() == {**product, **UNRATED}


async def test_a_catalog_lists_newest_first_page_by_page(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    made = [(await add_product(http, ada, sku=f"P-{i}"))["id"] for i in range(3)]
    rows = "".join(f"Q-{i},Item {i},,,100,EUR,1\n" for i in range(7))
    imported = await import_file(http, ada, f"{HEADER}\n{rows}")
    assert imported.json()["created"] == 7  # one import, one created_at: a tie to page through

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = await my_products(http, ada, **params)
        assert len(page["products"]) <= 4
        seen += [p["id"] for p in page["products"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 10
    assert seen[-3:] == made[::-1]
    bad = await http.get("/api/v1/products", params={"cursor": "x"}, headers=ada.headers)
    assert bad.status_code == 400
    for limit in ("0", "101", "many"):
        answer = await http.get("/api/v1/products", params={"limit": limit}, headers=ada.headers)
        assert answer.status_code == 400


async def test_a_csv_import_keeps_good_rows_and_reports_bad_ones(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    existing = await add_product(http, ada, sku="K-1", description="keep me", stock=1)
    csv_text = (
        "\ufeffsku,title,price_major,currency,stock\r\n"
        "K-1,Wool jumper (restock),39.90,EUR,25\r\n"
        'K-2,"Scarf, long",19.5,EUR,4\r\n'
        "K-3,Hat,-5.00,EUR,4\r\n"
        "K-4,Mittens,9.999,EUR,4\r\n"
        "K-5,Socks,9.99,ZZZ,4\r\n"
        "K-6,Beanie,9.99,EUR\r\n"
        "K-2,Scarf again,19.50,EUR,4\r\n"
        "K-7,Tea,500,JPY,10\r\n"
    )
    answer = await import_file(http, ada, csv_text.encode(), "text/csv; charset=utf-8")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["created"], report["updated"], report["refused"]) == (2, 1, 5)
    rows = {r["row"]: r for r in report["rows"]}
    assert rows[2] == {"row": 2, "sku": "K-1", "status": "updated", "id": existing["id"]}
    assert rows[3]["status"] == rows[9]["status"] == "created"
    assert {n: rows[n]["reason"] for n in (4, 5, 6, 7, 8)} == {
        4: "'price_major' must not be negative",
        5: "'price_major' 9.999 has 3 decimals; EUR has 2",
        6: "'currency' 'ZZZ' is not one of the ISO 4217 codes, such as EUR",
        7: "the row has 4 fields; the header has 5",
        8: "sku 'K-2' already appears in row 3",
    }

    restocked = (await http.get(f"/api/v1/products/{existing['id']}")).json()
    assert (restocked["title"], restocked["price"], restocked["stock"]) == (
        "Wool jumper (restock)",
        3990,
        25,
    )
    assert restocked["description"] == "keep me"  # not a column of the file: left alone
    scarf = (await http.get(f"/api/v1/products/{rows[3]['id']}")).json()
    assert (scarf["title"], scarf["price"]) == ("Scarf, long", 1950)
    tea = (await http.get(f"/api/v1/products/{rows[9]['id']}")).json()
    assert (tea["price"], tea["currency"]) == (500, "JPY")
    assert len((await my_products(http, ada))["products"]) == 3


async def test_an_import_refuses_rows_whose_title_hides_characters(
    http: httpx.AsyncClient,
) -> None:
    ada = await sign_up(http, "Ada")
    csv_text = (
        "sku,title,price,currency,stock\nK-1,Wool\u200b jumper,100,EUR,1\nK-2,Cap,100,EUR,1\n"
    )
    json_rows = [{**a_product(sku="J-1"), "title": "\u2066Scarf\u2069"}, a_product(sku="J-2")]
    for content, kind in (
        (csv_text.encode(), "text/csv"),
        (orjson.dumps(json_rows), "application/json"),
    ):
        report = (await import_file(http, ada, content, kind)).json()
        assert (report["created"], report["refused"]) == (1, 1)
        assert "'title' holds a control or invisible character" in report["rows"][0]["reason"]


async def test_a_json_import(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    body = {
        "products": [
            a_product(sku="J-1"),
            a_product(sku="J-2", price=1.5),
            [],
            a_product(sku="J-3"),
        ]
    }
    answer = await import_file(http, ada, orjson.dumps(body), "application/json")
    report = answer.json()
    assert (report["created"], report["updated"], report["refused"]) == (2, 0, 2)
    assert [r["status"] for r in report["rows"]] == ["created", "refused", "refused", "created"]
    again = await import_file(
        http, ada, orjson.dumps([a_product(sku="J-1", stock=99)]), "application/json"
    )
    assert (again.json()["created"], again.json()["updated"]) == (0, 1)
    assert again.json()["rows"][0]["id"] == report["rows"][0]["id"]


async def test_an_oversized_import_is_413(http: httpx.AsyncClient) -> None:
    ada = await sign_up(http, "Ada")
    row = "L-{},A title,,,100,EUR,1\n"
    big = HEADER + "\n" + "".join(row.format(i) for i in range(2 * 1024 * 1024 // len(row) + 10))
    answer = await import_file(http, ada, big)
    assert (answer.status_code, answer.json()["code"]) == (413, "too_large")

    async def chunks() -> Any:  # no Content-Length: the limit holds while streaming too
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024].encode()

    streamed = await http.post(
        "/api/v1/products/import",
        content=chunks(),
        headers={**ada.headers, "Content-Type": "text/csv"},
    )
    assert (streamed.status_code, streamed.json()["code"]) == (413, "too_large")
    assert (await my_products(http, ada))["products"] == []


@pytest.mark.parametrize(
    ("content", "content_type", "detail"),
    [
        (f"{HEADER}\nM-1,Genser blå,,,100,NOK,1\n".encode("latin-1"), "text/csv", "not UTF-8"),
        (b"sku,name,price,currency,stock\n", "text/csv", "unknown column 'name'"),
        (b"", "text/csv", "empty"),
        (b"{not json", "application/json", "not valid JSON"),
        (b"sku,title\n", "application/vnd.ms-excel", "'text/csv' or 'application/json'"),
    ],
)
async def test_an_unreadable_import_is_refused_as_a_whole(
    http: httpx.AsyncClient, content: bytes, content_type: str, detail: str
) -> None:
    ada = await sign_up(http, "Ada")
    answer = await import_file(http, ada, content, content_type)
    assert (answer.status_code, answer.json()["code"]) == (400, "bad_request")
    assert detail in answer.json()["detail"]


async def test_the_openapi_document_lists_the_catalog(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/api/v1/openapi.json")).json()["paths"]
    assert set(paths["/api/v1/products"]) == {"get", "post"}
    assert set(paths["/api/v1/products/{product_id}"]) == {"get", "patch", "delete"}
    assert "post" in paths["/api/v1/products/import"]


async def test_an_import_racing_other_writers_keeps_one_product_per_sku(redis_url: str) -> None:
    """Between the sku lookup and the write, another request creates the same sku, and a
    fresh id turns out to be taken: the rows are retried alone and still land once."""
    client = Redis.from_url(redis_url)
    store = CatalogStore(client)
    rival = draft_of(a_product(sku="R-1", title="Rival")).to_product(
        ProductId("p_rival"), "u_ada", 1
    )
    taken = draft_of(a_product(sku="OTHER")).to_product(ProductId("p_taken"), "u_ada", 1)
    await store.create_product(taken)
    ids = iter(["p_for_r1", "p_taken", "p_fresh", "p_spare"])
    sync = redis.Redis.from_url(redis_url)

    def new_id() -> ProductId:
        product_id = ProductId(next(ids))
        if product_id == "p_for_r1":  # a concurrent create of R-1 wins the race
            for name, value in product_to_hash(rival).items():
                sync.hset(product_key("u_ada", "p_rival"), name, value)
            sync.hset(skus_key("u_ada"), "R-1", "p_rival")
            sync.zadd(products_key("u_ada"), {"p_rival": 1})
            sync.hset(owners_key(), "p_rival", "u_ada")
        return product_id

    rows = parse_import(
        b"sku,title,price,currency,stock\nR-1,Mine,100,EUR,1\nR-2,New,200,EUR,2\n", "text/csv"
    ).accepted
    try:
        results = await store.import_products("u_ada", rows, now=5, new_id=new_id)
        assert [(r.sku, r.status, r.product_id) for r in results] == [
            ("R-1", "updated", "p_rival"),
            ("R-2", "created", "p_fresh"),
        ]
        assert (await store.product("p_rival")).title == "Mine"
        assert (await store.product("p_taken")).sku == "OTHER"  # the clash overwrote nothing
        assert sync.hget(owners_key(), "p_for_r1") is None  # the loser's claim was let go
        listed, _ = await store.products("u_ada", limit=10)
        assert sorted(p.sku for p in listed) == ["OTHER", "R-1", "R-2"]
    finally:
        sync.close()
        await client.aclose()
