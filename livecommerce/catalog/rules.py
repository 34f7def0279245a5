"""The product catalog: what a valid product is, how it changes, and how a file imports.

Pure: no I/O and no clock. The HTTP edge hands in bodies and ``now``; the store keeps what
comes out. Every refusal says which field and why, because a creator fixing a 3,000-row
spreadsheet needs the row and the reason, not "invalid input".
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from livecommerce.catalog.images import is_uploaded
from livecommerce.currencies import CURRENCIES, MINOR_UNITS
from livecommerce.errors import BadRequest, Forbidden, TooLarge
from livecommerce.runtime.ids import ProductId
from livecommerce.text import clean_line, clean_paragraphs

SKU_MAX = 64
TITLE_MAX = 120
DESCRIPTION_MAX = 2000
IMAGE_URL_MAX = 2048
PRICE_MAX = 10**12
STOCK_MAX = 10**9
IMPORT_MAX_BYTES = 2 * 1024 * 1024
IMPORT_MAX_ROWS = 5000
ROW_MAX_BYTES = 8 * 1024

FIELDS = ("sku", "title", "description", "image_url", "price", "currency", "stock")
_REQUIRED = frozenset({"sku", "title", "price", "currency", "stock"})
_SKU = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DIGITS = re.compile(r"^[0-9]+$")
_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_NUMBER_DIGITS_MAX = 20
_CSV_COLUMNS = frozenset({*FIELDS, "price_major"})


@dataclass(frozen=True, slots=True)
class Product:
    id: ProductId
    creator_id: str
    sku: str
    title: str
    description: str
    image_url: str
    price: int
    currency: str
    stock: int
    created_at: int
    updated_at: int

    def to_public(self) -> dict[str, Any]:
        return asdict(self)

    def require_owner(self, user_id: str) -> None:
        if user_id != self.creator_id:
            raise Forbidden("only the product's creator may change it")

    def require_sellable(self, seller_id: str, currency: str, action: str) -> None:
        """Pinned, sold or auctioned in a show: by its creator, in the show's currency."""
        if seller_id != self.creator_id:
            raise Forbidden(f"you can only {action} your own products")
        if currency != self.currency:
            raise BadRequest(f"the product is priced in {self.currency}, the room in {currency}")


@dataclass(frozen=True, slots=True)
class ProductDraft:
    """A product as a creator describes it; ``given`` names the fields the input had."""

    sku: str
    title: str
    price: int
    currency: str
    stock: int
    description: str = ""
    image_url: str = ""
    given: frozenset[str] = field(default=frozenset(FIELDS))

    def to_product(self, product_id: ProductId, creator_id: str, now: int) -> Product:
        return Product(
            id=product_id,
            creator_id=creator_id,
            sku=self.sku,
            title=self.title,
            description=self.description,
            image_url=self.image_url,
            price=self.price,
            currency=self.currency,
            stock=self.stock,
            created_at=now,
            updated_at=now,
        )

    def changes(self) -> dict[str, str | int]:
        """The fields this draft sets on an existing product (an import updating by sku)."""
        return {name: getattr(self, name) for name in FIELDS if name in self.given}


# Fields ------------------------------------------------------------------------------


def _sku(value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest("'sku' must be a string")
    value = value.strip()
    if not _SKU.match(value):
        raise BadRequest(
            f"'sku' must be 1 to {SKU_MAX} characters of A-Z, a-z, 0-9, '.', '_' and '-'"
        )
    return value


def _title(value: object) -> str:
    return clean_line(value, "title", TITLE_MAX)


def _description(value: object) -> str:
    return clean_paragraphs(value, "description", DESCRIPTION_MAX)


def _image_url(value: object) -> str:
    """An absolute https URL, an image uploaded here (``/images/<name>``) or "" (no image):
    never javascript:, data: or any other relative URL.

    Plain http is refused too: the pages are served over https, where a browser blocks or
    rewrites http images, and their content security policy shows only https images.
    """
    if not isinstance(value, str):
        raise BadRequest("'image_url' must be a string")
    if value == "" or is_uploaded(value):
        return value
    if len(value) > IMAGE_URL_MAX:
        raise BadRequest(f"'image_url' is longer than {IMAGE_URL_MAX} characters")
    if _CONTROL.search(value):
        raise BadRequest("'image_url' must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise BadRequest("'image_url' is not a valid URL") from None
    if parts.scheme.lower() != "https" or not host:
        raise BadRequest("'image_url' must be an absolute https:// URL or an uploaded image")
    return value


def _kind(value: object) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    return "a list" if isinstance(value, list) else "an object"


def _whole(name: str, value: object, maximum: int) -> int:
    """A JSON integer in range; bools, strings and floats (even 12.0) are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"'{name}' must be an integer, not {_kind(value)}")
    if value < 0:
        raise BadRequest(f"'{name}' must not be negative")
    if value > maximum:
        raise BadRequest(f"'{name}' must be at most {maximum}")
    if isinstance(value, float):
        raise BadRequest(f"'{name}' must be an integer, not {value!r}")
    return value


def _price(value: object) -> int:
    if isinstance(value, float) and not value.is_integer() and value >= 0:
        raise BadRequest(f"'price' is in minor units (cents) and must be whole, not {value!r}")
    return _whole("price", value, PRICE_MAX)


def _stock(value: object) -> int:
    return _whole("stock", value, STOCK_MAX)


def _currency(value: object) -> str:
    if not isinstance(value, str) or value not in CURRENCIES:
        shown = f" {value!r} is not one" if isinstance(value, str) else " must be one"
        raise BadRequest(f"'currency'{shown} of the ISO 4217 codes, such as EUR")
    return value


_VALIDATORS: dict[str, Callable[[object], str | int]] = {
    "sku": _sku,
    "title": _title,
    "description": _description,
    "image_url": _image_url,
    "price": _price,
    "currency": _currency,
    "stock": _stock,
}


def _object(body: object) -> dict[str, object]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(str(k) for k in body if k not in _VALIDATORS)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; a product has {', '.join(FIELDS)}")
    return body


def parse_product_draft(body: object) -> ProductDraft:
    """A new product from a JSON object; ``BadRequest`` names the first bad field."""
    data = _object(body)
    for name in FIELDS:
        if name in _REQUIRED and name not in data:
            raise BadRequest(f"'{name}' is required")
    # Keyword arguments are evaluated in the order written: FIELDS order, as in a patch.
    return ProductDraft(
        sku=_sku(data["sku"]),
        title=_title(data["title"]),
        description=_description(data.get("description", "")),
        image_url=_image_url(data.get("image_url", "")),
        price=_price(data["price"]),
        currency=_currency(data["currency"]),
        stock=_stock(data["stock"]),
        given=frozenset(data),
    )


def parse_product_patch(body: object) -> dict[str, str | int]:
    """The fields a PATCH changes; absent fields stay as they are."""
    data = _object(body)
    if not data:
        raise BadRequest(f"the body changes nothing; give one or more of {', '.join(FIELDS)}")
    return {name: _VALIDATORS[name](data[name]) for name in FIELDS if name in data}


def apply_changes(product: Product, changes: Mapping[str, str | int], now: int) -> Product:
    return product_from_hash({**product_to_hash(product), **changes_to_hash(changes, now)})


def product_to_hash(product: Product) -> dict[str, str]:
    return {name: str(value) for name, value in asdict(product).items()}


def changes_to_hash(changes: Mapping[str, str | int], now: int) -> dict[str, str]:
    return {**{name: str(value) for name, value in changes.items()}, "updated_at": str(now)}


def product_from_hash(data: Mapping[str, str]) -> Product:
    return Product(
        id=ProductId(data["id"]),
        creator_id=data["creator_id"],
        sku=data["sku"],
        title=data["title"],
        description=data.get("description", ""),
        image_url=data.get("image_url", ""),
        price=int(data["price"]),
        currency=data["currency"],
        stock=int(data["stock"]),
        created_at=int(data["created_at"]),
        updated_at=int(data["updated_at"]),
    )


_CURSOR = re.compile(r"^([0-9]{1,15})\.([0-9]{1,9})$")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a newest-first listing resumes: at products created at or before ``before``,
    skipping the first ``skip`` created exactly then (an import creates many in one ms)."""

    before: int
    skip: int = 0

    def __str__(self) -> str:
        return f"{self.before}.{self.skip}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        found = _CURSOR.match(text)
        if not found:
            raise BadRequest("'cursor' must be a next_cursor this server gave")
        return cls(int(found[1]), int(found[2]))


# Import ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One row of an import: a draft to keep, or the reason it was refused.

    ``row`` is what the creator sees in their editor: the line a CSV record starts on
    (the header is line 1), or the 1-based position of an object in a JSON list.
    """

    row: int
    sku: str | None
    draft: ProductDraft | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.draft is not None


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: tuple[ImportRow, ...]

    @property
    def accepted(self) -> list[ImportRow]:
        return [r for r in self.rows if r.ok]

    @property
    def refused(self) -> list[ImportRow]:
        return [r for r in self.rows if not r.ok]


ImportStatus = Literal["created", "updated", "refused"]


@dataclass(frozen=True, slots=True)
class RowResult:
    """What became of one row once the store had it."""

    row: int
    sku: str | None
    status: ImportStatus
    product_id: str | None = None
    reason: str | None = None

    def to_public(self) -> dict[str, Any]:
        data: dict[str, Any] = {"row": self.row, "sku": self.sku, "status": self.status}
        if self.product_id is not None:
            data["id"] = self.product_id
        if self.reason is not None:
            data["reason"] = self.reason
        return data


def import_summary(results: list[RowResult]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r.row)
    return {
        "created": sum(r.status == "created" for r in ordered),
        "updated": sum(r.status == "updated" for r in ordered),
        "refused": sum(r.status == "refused" for r in ordered),
        "rows": [r.to_public() for r in ordered],
    }


def import_kind(content_type: str | None) -> Literal["csv", "json"]:
    """``csv`` or ``json`` from a Content-Type; a charset other than UTF-8 is refused."""
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
            "us-ascii",
        ):
            raise BadRequest("an import must be UTF-8 encoded")
    if media == "text/csv":
        return "csv"
    if media == "application/json":
        return "json"
    raise BadRequest("an import is 'text/csv' or 'application/json'")


def parse_import(content: bytes, content_type: str | None) -> ImportReport:
    """Every row of a CSV or JSON catalog file, kept or refused with its reason.

    Problems with the file as a whole (too big, not UTF-8, unreadable, no header) raise;
    problems with a row refuse that row only, so one typo does not sink 4,999 good rows.
    """
    kind = import_kind(content_type)
    if len(content) > IMPORT_MAX_BYTES:
        raise TooLarge(f"an import is at most {IMPORT_MAX_BYTES} bytes")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"the file is not UTF-8: byte 0x{content[exc.start]:02x} at offset {exc.start}"
        ) from None
    rows = _csv_rows(text) if kind == "csv" else _json_rows(text)
    return ImportReport(tuple(_without_duplicates(rows)))


def _without_duplicates(rows: Iterator[ImportRow]) -> Iterator[ImportRow]:
    first_seen: dict[str, int] = {}
    for count, row in enumerate(rows, start=1):
        if count > IMPORT_MAX_ROWS:
            raise TooLarge(f"an import has at most {IMPORT_MAX_ROWS} rows")
        sku = row.sku
        if row.ok and sku is not None:
            if sku in first_seen:
                reason = f"sku {sku!r} already appears in row {first_seen[sku]}"
                row = ImportRow(row.row, sku, reason=reason)
            else:
                first_seen[sku] = row.row
        yield row


def _csv_rows(text: str) -> Iterator[ImportRow]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise BadRequest("the file is empty; it needs a header row")
        columns = _csv_header(header)
        start = reader.line_num + 1
        for cells in reader:
            row, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            yield _csv_row(row, columns, cells)
    except csv.Error as exc:
        raise BadRequest(f"the CSV cannot be read at line {reader.line_num}: {exc}") from None


def _csv_header(header: list[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in header]
    for name in columns:
        if name not in _CSV_COLUMNS:
            known = ", ".join([*FIELDS, "price_major"])
            raise BadRequest(f"unknown column {name!r}; the columns are {known}")
        if columns.count(name) > 1:
            raise BadRequest(f"the column {name!r} appears twice")
    if "price" in columns and "price_major" in columns:
        raise BadRequest("give either 'price' (minor units) or 'price_major', not both")
    missing = [
        name
        for name in ("sku", "title", "price", "currency", "stock")
        if name not in columns and not (name == "price" and "price_major" in columns)
    ]
    if missing:
        raise BadRequest(f"the header lacks the column {missing[0]!r}")
    return columns


def _csv_row(row: int, columns: list[str], cells: list[str]) -> ImportRow:
    record = dict(zip(columns, cells, strict=False))
    sku = record.get("sku", "").strip() or None
    if len(cells) != len(columns):
        reason = f"the row has {len(cells)} fields; the header has {len(columns)}"
        return ImportRow(row, sku, reason=reason)
    if sum(len(cell.encode()) + 1 for cell in cells) > ROW_MAX_BYTES:
        return ImportRow(row, sku, reason=f"the row is over {ROW_MAX_BYTES} bytes")
    try:
        values: dict[str, object] = {}
        for name in columns:
            cell = record[name].strip()
            if name in ("price", "stock"):
                values[name] = _csv_whole(name, cell)
            elif name == "price_major":
                values["price"] = price_from_major(cell, _currency(record["currency"].strip()))
            elif name in ("description", "image_url"):
                values[name] = record[name] if name == "description" else cell
            else:
                values[name] = cell
        draft = parse_product_draft(values)
    except BadRequest as exc:
        return ImportRow(row, sku, reason=exc.message)
    return ImportRow(row, draft.sku, draft=draft)


def _csv_whole(name: str, cell: str) -> int:
    negative = cell.startswith("-") and bool(_DECIMAL.match(cell[1:]))
    if negative:
        raise BadRequest(f"'{name}' must not be negative")
    if _DIGITS.match(cell):
        # int() of a huge digit string is slow and, past 4,300 digits, an error.
        if len(cell.lstrip("0")) > _NUMBER_DIGITS_MAX:
            raise BadRequest(
                f"'{name}' must be at most {PRICE_MAX if name == 'price' else STOCK_MAX}"
            )
        return int(cell)
    if name == "price" and _DECIMAL.match(cell):
        raise BadRequest(
            f"'price' is in minor units (cents) and must be whole, not {cell!r};"
            " use a 'price_major' column for amounts like 12.50"
        )
    raise BadRequest(f"'{name}' must be an integer, not {cell!r}")


def price_from_major(amount: str, currency: str) -> int:
    """``"12.50"`` EUR -> 1250; more decimals than the currency has are refused."""
    if amount.startswith("-") and _DECIMAL.match(amount[1:]):
        raise BadRequest("'price_major' must not be negative")
    if not _DECIMAL.match(amount):
        raise BadRequest(f"'price_major' must be an amount such as 12.50, not {amount!r}")
    exponent = MINOR_UNITS[currency]
    whole, _, fraction = amount.partition(".")
    if len(fraction) > exponent:
        raise BadRequest(
            f"'price_major' {amount} has {len(fraction)} decimals; {currency} has {exponent}"
        )
    if len(whole.lstrip("0")) > _NUMBER_DIGITS_MAX:
        raise BadRequest(f"'price' must be at most {PRICE_MAX}")
    return _price(int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0"))


def _json_rows(text: str) -> Iterator[ImportRow]:
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the file is not valid JSON: {exc.msg}") from None
    if isinstance(body, dict) and set(body) == {"products"}:
        body = body["products"]
    if not isinstance(body, list):
        raise BadRequest('a JSON import is a list of products or {"products": [...]}')
    for index, item in enumerate(body, start=1):
        raw_sku = item.get("sku") if isinstance(item, dict) else None
        sku = (raw_sku.strip() or None) if isinstance(raw_sku, str) else None
        if len(orjson.dumps(item)) > ROW_MAX_BYTES:
            yield ImportRow(index, sku, reason=f"the product is over {ROW_MAX_BYTES} bytes")
            continue
        try:
            draft = parse_product_draft(item)
        except BadRequest as exc:
            yield ImportRow(index, sku, reason=exc.message)
            continue
        yield ImportRow(index, draft.sku, draft=draft)
