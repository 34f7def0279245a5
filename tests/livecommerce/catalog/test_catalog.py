"""Catalog rules: what a valid product is, how a patch applies, how a file imports."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from livecommerce.catalog.rules import (
    IMPORT_MAX_BYTES,
    IMPORT_MAX_ROWS,
    Cursor,
    ImportReport,
    Product,
    apply_changes,
    import_kind,
    parse_import,
    parse_product_draft,
    parse_product_patch,
    price_from_major,
    product_from_hash,
    product_to_hash,
)
from livecommerce.errors import BadRequest, Forbidden, TooLarge
from livecommerce.runtime.ids import ProductId

HEADER = "sku,title,description,image_url,price,currency,stock"


def a_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": "KNIT-01",
        "title": "Wool jumper",
        "price": 4990,
        "currency": "EUR",
        "stock": 12,
    }
    body.update(changes)
    return body


def a_product() -> Product:
    return parse_product_draft(a_body(description="warm")).to_product(
        ProductId("p_1"), "u_ada", now=1_000
    )


def csv_import(text: str) -> ImportReport:
    return parse_import(text.encode(), "text/csv")


def reasons(report: ImportReport) -> dict[int, str | None]:
    return {r.row: r.reason for r in report.rows}


# Drafts --------------------------------------------------------------------------------


def test_a_valid_draft_becomes_a_product() -> None:
    draft = parse_product_draft(
        a_body(title=" Wool jumper ", image_url="https://cdn.example/j.jpg")
    )
    product = draft.to_product(ProductId("p_1"), "u_ada", now=1_000)
    assert product.to_public() == {
        "id": "p_1",
        "creator_id": "u_ada",
        "sku": "KNIT-01",
        "title": "Wool jumper",
        "description": "",
        "image_url": "https://cdn.example/j.jpg",
        "price": 4990,
        "currency": "EUR",
        "stock": 12,
        "created_at": 1_000,
        "updated_at": 1_000,
    }
    assert product_from_hash(product_to_hash(product)) == product


def test_the_edges_of_the_ranges_are_allowed() -> None:
    draft = parse_product_draft(
        a_body(sku="a" * 64, title="t" * 120, description="d\n" * 1000, price=0, stock=0)
    )
    assert (draft.price, draft.stock) == (0, 0)
    top = parse_product_draft(a_body(price=10**12, stock=10**9, image_url="https://x.example"))
    assert (top.price, top.stock) == (10**12, 10**9)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"price": -1}, "'price' must not be negative"),
        ({"price": 12.5}, "'price' is in minor units (cents) and must be whole, not 12.5"),
        ({"price": 12.0}, "'price' must be an integer, not 12.0"),
        ({"price": "1250"}, "'price' must be an integer, not a string"),
        ({"price": True}, "'price' must be an integer, not true or false"),
        ({"price": None}, "'price' must be an integer, not null"),
        ({"price": 10**12 + 1}, "'price' must be at most 1000000000000"),
        ({"price": 1e30}, "'price' must be at most 1000000000000"),
        ({"stock": -3}, "'stock' must not be negative"),
        ({"stock": 1.5}, "'stock' must be an integer, not 1.5"),
        ({"stock": 10**9 + 1}, "'stock' must be at most 1000000000"),
        ({"currency": "XXX"}, "'currency' 'XXX' is not one of the ISO 4217 codes, such as EUR"),
        ({"currency": "eur"}, "'currency' 'eur' is not one of the ISO 4217 codes, such as EUR"),
        ({"currency": 978}, "'currency' must be one of the ISO 4217 codes, such as EUR"),
        ({"sku": ""}, "'sku' must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"),
        ({"sku": "a" * 65}, "'sku' must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"),
        ({"sku": "knit 01"}, "'sku' must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"),
        (
            {"sku": "strikk/ø"},
            "'sku' must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        ),
        ({"sku": 7}, "'sku' must be a string"),
        ({"title": "  "}, "'title' must be a non-empty string"),
        ({"title": "t" * 121}, "'title' is longer than 120 characters"),
        ({"title": "two\nlines"}, "'title' holds more than one line or a control or invisible"),
        ({"title": "Wool \u202ecap"}, "'title' holds a control or invisible character (U+202E)"),
        ({"title": "Wool\u200bcap"}, "'title' holds a control or invisible character (U+200B)"),
        ({"title": "\u2067Cap\u2069"}, "'title' holds a control or invisible character (U+2067)"),
        ({"description": "d" * 2001}, "'description' is longer than 2000 characters"),
        ({"description": "bell\x07"}, "'description' holds a control or invisible character"),
        ({"description": "Soft\u200d wool"}, "(U+200D)"),  # a joiner joining no emoji
        ({"description": "\ufeffSoft"}, "'description' holds a control or invisible character"),
        ({"description": None}, "'description' must be a string"),
        ({"image_url": "javascript:alert(1)"}, "must be an absolute https:// URL"),
        ({"image_url": "data:image/png;base64,AAAA"}, "must be an absolute https:// URL"),
        ({"image_url": "/images/j.jpg"}, "must be an absolute https:// URL"),
        ({"image_url": "https:///nohost"}, "must be an absolute https:// URL"),
        ({"image_url": "ftp://cdn.example/j.jpg"}, "must be an absolute https:// URL"),
        ({"image_url": "http://cdn.example/j.jpg"}, "must be an absolute https:// URL"),
        ({"image_url": "https://cdn.example/a b.jpg"}, "must not contain spaces or control"),
        ({"image_url": "https://cdn.example:99999/"}, "'image_url' is not a valid URL"),
        ({"image_url": "https://x.example/" + "a" * 2048}, "'image_url' is longer than 2048"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_bad_fields_are_refused_by_name(changes: dict[str, object], message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_product_draft(a_body(**changes))
    assert message in refused.value.message


@pytest.mark.parametrize("missing", ["sku", "title", "price", "currency", "stock"])
def test_required_fields(missing: str) -> None:
    body = a_body()
    del body[missing]
    with pytest.raises(BadRequest, match=f"'{missing}' is required"):
        parse_product_draft(body)


def test_the_body_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="JSON object"):
        parse_product_draft([a_body()])


# Patches -------------------------------------------------------------------------------


def test_a_patch_changes_only_what_it_names() -> None:
    product = a_product()
    changes = parse_product_patch({"price": 3990, "stock": 0})
    assert changes == {"price": 3990, "stock": 0}
    patched = apply_changes(product, changes, now=2_000)
    assert (patched.price, patched.stock, patched.title) == (3990, 0, "Wool jumper")
    assert (patched.created_at, patched.updated_at) == (1_000, 2_000)


@pytest.mark.parametrize(
    "body",
    [{}, {"price": -5}, {"price": 9.99}, {"currency": "ABC"}, {"id": "p_2"}, {"title": None}, []],
)
def test_bad_patches_are_refused(body: object) -> None:
    with pytest.raises(BadRequest):
        parse_product_patch(body)


def test_only_the_creator_may_change_a_product() -> None:
    product = a_product()
    product.require_owner("u_ada")
    with pytest.raises(Forbidden):
        product.require_owner("u_mallory")


def test_cursors_round_trip_and_refuse_garbage() -> None:
    assert Cursor.parse(str(Cursor(1_700_000_000_000, 3))) == Cursor(1_700_000_000_000, 3)
    for garbage in ("", "abc", "1.", "-1.0", "1.2.3"):
        with pytest.raises(BadRequest):
            Cursor.parse(garbage)


# Major units ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.50", "EUR", 1250), ("12.5", "EUR", 1250), ("12", "EUR", 1200), ("0.01", "USD", 1),
     ("500", "JPY", 500), ("1.234", "KWD", 1234), ("007.10", "NOK", 710)],
)  # fmt: skip
def test_major_units_become_minor_units(amount: str, currency: str, minor: int) -> None:
    assert price_from_major(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("12.505", "EUR", "'price_major' 12.505 has 3 decimals; EUR has 2"),
        ("500.5", "JPY", "'price_major' 500.5 has 1 decimals; JPY has 0"),
        ("-1.00", "EUR", "'price_major' must not be negative"),
        ("12,50", "EUR", "'price_major' must be an amount such as 12.50"),
        ("1e3", "EUR", "'price_major' must be an amount such as 12.50"),
        ("", "EUR", "'price_major' must be an amount such as 12.50"),
        ("10000000001", "EUR", "'price' must be at most 1000000000000"),
        ("9" * 5000, "EUR", "'price' must be at most 1000000000000"),
    ],
)
def test_bad_major_amounts(amount: str, currency: str, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        price_from_major(amount, currency)
    assert message in refused.value.message


# CSV import ----------------------------------------------------------------------------


def test_a_csv_with_good_and_bad_rows_keeps_the_good_ones() -> None:
    report = csv_import(
        f"{HEADER}\n"
        "A-1,Jumper,warm,https://cdn.example/a.jpg,4990,EUR,3\n"
        "A-2,Scarf,,,-100,EUR,3\n"
        "A-3,Hat,,,12.50,EUR,3\n"
        "A-4,Mittens,,,990,XXX,3\n"
        "A-5,Socks,,,990,EUR\n"
        "A-6,Beanie,,,990,EUR,2,extra\n"
        "A-7,Gloves,,,990,EUR,-1\n"
        "A-8,Shawl,,javascript:alert(1),990,EUR,1\n"
        "A-1,Jumper again,,,4990,EUR,3\n"
        "A-9,Poncho,,,990,EUR,1\n"
    )
    assert [r.sku for r in report.accepted] == ["A-1", "A-9"]
    assert reasons(report) == {
        2: None,
        3: "'price' must not be negative",
        4: "'price' is in minor units (cents) and must be whole, not '12.50';"
        " use a 'price_major' column for amounts like 12.50",
        5: "'currency' 'XXX' is not one of the ISO 4217 codes, such as EUR",
        6: "the row has 6 fields; the header has 7",
        7: "the row has 8 fields; the header has 7",
        8: "'stock' must not be negative",
        9: "'image_url' must be an absolute https:// URL or an uploaded image",
        10: "sku 'A-1' already appears in row 2",
        11: None,
    }
    assert [r.sku for r in report.refused][:2] == ["A-2", "A-3"]


def test_a_spreadsheet_export_with_bom_crlf_and_quotes() -> None:
    text = (
        "\ufeffSKU, Title ,Description,Price_Major,Currency,Stock\r\n"
        'B-1,"Jumper, wool","Warm\r\nand ""soft""",12.50,EUR,3\r\n'
        "\r\n"
        "B-2,Tea,,500,JPY,7\r\n"
    )
    report = parse_import(text.encode(), "text/csv; charset=utf-8")
    first, second = report.accepted
    assert first.draft is not None
    assert second.draft is not None
    assert (first.row, first.draft.title, first.draft.description) == (
        2,
        "Jumper, wool",
        'Warm\r\nand "soft"',
    )
    assert first.draft.price == 1250
    assert (second.row, second.draft.price, second.draft.currency) == (5, 500, "JPY")
    # Columns the file lacks are not "given": an update by sku leaves them as they are.
    assert "image_url" not in first.draft.changes()
    assert first.draft.changes()["price"] == 1250


def test_price_major_refuses_more_decimals_than_the_currency_has() -> None:
    report = csv_import(
        "sku,title,price_major,currency,stock\n"
        "C-1,Tea,500.5,JPY,1\n"
        "C-2,Tea,1.005,EUR,1\n"
        "C-3,Tea,1.005,KWD,1\n"
        "C-4,Tea,1.00,NOPE,1\n"
    )
    assert [r.sku for r in report.accepted] == ["C-3"]
    assert reasons(report)[2] == "'price_major' 500.5 has 1 decimals; JPY has 0"
    assert reasons(report)[3] == "'price_major' 1.005 has 3 decimals; EUR has 2"
    assert "'currency' 'NOPE'" in str(reasons(report)[5])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("sku,title,prcie,currency,stock\n", "unknown column 'prcie'"),
        ("sku,title,price,currency,stock,sku\n", "the column 'sku' appears twice"),
        ("sku,title,price,price_major,currency,stock\n", "either 'price'"),
        ("sku,title,currency,stock\nA,B,EUR,1\n", "lacks the column 'price'"),
        ("sku,price,currency,stock\n", "lacks the column 'title'"),
        ('sku,title,price,currency,stock\nA,"unterminated,1,EUR,1\n', "cannot be read at line"),
        ('sku,title,price,currency,stock\nA,"x"y,1,EUR,1\n', "cannot be read at line 2"),
    ],
)
def test_a_csv_unreadable_as_a_whole_is_refused(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        csv_import(text)
    assert message in refused.value.message


def test_a_file_that_is_not_utf8_is_refused_as_a_whole() -> None:
    latin1 = f"{HEADER}\nD-1,Strikkegenser blå,,,100,NOK,1\n".encode("latin-1")
    with pytest.raises(BadRequest, match="not UTF-8: byte 0xe5 at offset"):
        parse_import(latin1, "text/csv")
    with pytest.raises(BadRequest, match="UTF-8"):
        parse_import(b"[]", "application/json; charset=iso-8859-1")


def test_size_limits() -> None:
    with pytest.raises(TooLarge):
        parse_import(b"x" * (IMPORT_MAX_BYTES + 1), "text/csv")
    rows = "".join(f"E-{i},T,1,EUR,1\n" for i in range(IMPORT_MAX_ROWS + 1))
    with pytest.raises(TooLarge, match="5000 rows"):
        csv_import("sku,title,price,currency,stock\n" + rows)
    assert len(csv_import("sku,title,price,currency,stock\n" + rows[: rows.rindex("E-")]).rows) == (
        IMPORT_MAX_ROWS
    )
    long_row = csv_import(f"{HEADER}\nF-1,T,{'d' * 8200},,1,EUR,1\nF-2,T,,,1,EUR,1\n")
    assert reasons(long_row) == {2: "the row is over 8192 bytes", 3: None}


def test_huge_numbers_in_a_csv_are_refused_not_crashed_on() -> None:
    report = csv_import(f"sku,title,price,currency,stock\nG-1,T,{'9' * 5000},EUR,1\n")
    assert reasons(report) == {2: "'price' must be at most 1000000000000"}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml", "multipart/x"])
def test_only_csv_and_json_are_imported(content_type: str | None) -> None:
    with pytest.raises(BadRequest, match="'text/csv' or 'application/json'"):
        import_kind(content_type)


# JSON import ---------------------------------------------------------------------------


def test_a_json_import_in_either_shape() -> None:
    items = [a_body(sku="J-1"), a_body(sku="J-2", price=-1), "not a product", a_body(sku="J-1")]
    for body in (items, {"products": items}):
        report = parse_import(orjson.dumps(body), "application/json")
        assert [r.sku for r in report.accepted] == ["J-1"]
        assert reasons(report) == {
            1: None,
            2: "'price' must not be negative",
            3: "the body must be a JSON object",
            4: "sku 'J-1' already appears in row 1",
        }
    big = parse_import(orjson.dumps([a_body(description="d" * 9000)]), "application/json")
    assert reasons(big) == {1: "the product is over 8192 bytes"}


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"items": []}', b'"products"', b'{"products": {}}', b"\xff[]"],
)
def test_a_json_import_unreadable_as_a_whole(content: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_import(content, "application/json")


def test_a_json_import_may_start_with_a_bom() -> None:
    report = parse_import(b"\xef\xbb\xbf" + orjson.dumps([a_body()]), "application/json")
    assert len(report.accepted) == 1
