"""Products from SQLite, and the CSV import a store owner runs (DESIGN §6).

The import keeps every good row, reports each bad one by its file line (header = line 1),
and works while the daemon runs: the daemon reads products from the database on each scan
lookup, so an import takes effect without a restart.
"""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from posd.db.catalog import ProductRow, Products
from posd.db.store import Store
from posd.errors import BadInput
from posd.proof.leaf import MAX_AMOUNT
from posd.till.barcode import MAX_CODE, BadBarcode, parse

HEADER = ["barcode", "name", "price_minor", "tax_rate"]
MAX_NAME = 200
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²" and "٣"
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8 (surrogateescape)
_TAX = re.compile(r"[0-9]{1,2}(?:\.[0-9]{1,4})?")


@dataclass(frozen=True)
class Product:
    barcode: str
    name: str
    price_minor: int
    tax_rate: Decimal


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportResult:
    imported: int
    errors: list[RowError]


class CatalogFileError(BadInput, ValueError):
    """The file as a whole cannot be imported (missing, not CSV, wrong header)."""

    code = "bad_catalog_file"


class Catalog:
    """Product lookups, cached in memory; an import by another process shows within a second."""

    RECHECK_S = 1.0
    MAX_CACHED = 100_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self.products = Products(store)
        self._cache: dict[str, Product] = {}
        self._version: int | None = None
        self._checked = 0.0

    def get(self, barcode: str) -> Product | None:
        """The product filed under ``barcode``. Only hits are cached: a miss is one indexed
        lookup, and caching misses let anyone with a scanner (or the API) grow memory."""
        now = time.monotonic()
        if now - self._checked > self.RECHECK_S:
            version = self.products.version()
            if version != self._version:
                self._cache.clear()
                self._version = version
            self._checked = now
        cached = self._cache.get(barcode)
        if cached is not None:
            return cached
        row = self.products.get(barcode)
        if row is None:
            return None
        product = Product(row.barcode, row.name, row.price_minor, Decimal(row.tax_rate))
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[barcode] = product
        return product

    def count(self) -> int:
        return self.products.count()

    def upsert(self, products: list[Product]) -> None:
        self.products.upsert(
            [ProductRow(p.barcode, p.name, p.price_minor, str(p.tax_rate)) for p in products]
        )
        self._checked = 0.0  # this process sees its own change at once

    def import_csv(self, path: Path) -> ImportResult:
        products, errors = read_csv(path)
        if products:
            self.upsert(products)
        self.products.log_import(str(path), len(products), len(errors))
        return ImportResult(len(products), errors)


def _parse_row(line: int, row: dict[str, str]) -> Product | RowError:
    barcode = (row.get("barcode") or "").strip()
    name = (row.get("name") or "").strip()
    if not barcode:
        return RowError(line, "barcode", "empty")
    if len(barcode) > MAX_CODE:
        return RowError(line, "barcode", f"{len(barcode)} characters; at most {MAX_CODE}")
    # an item of price-embedded codes, e.g. 2112345 (DESIGN §6)
    is_embedded_item = len(barcode) == 7 and barcode[0] == "2" and _DIGITS.fullmatch(barcode)
    if not is_embedded_item:
        try:
            parse(barcode)
        except BadBarcode as exc:
            return RowError(line, "barcode", str(exc))
    if not name:
        return RowError(line, "name", "empty")
    if len(name) > MAX_NAME:
        return RowError(line, "name", f"{len(name)} characters; at most {MAX_NAME}")
    price_text = (row.get("price_minor") or "").strip()
    if not _DIGITS.fullmatch(price_text):
        return RowError(
            line,
            "price_minor",
            f"expected a whole number of minor units (digits 0-9), got {_show(price_text)}",
        )
    if len(price_text) > 20 or int(price_text) > MAX_AMOUNT:
        return RowError(
            line, "price_minor", f"{_show(price_text)} is over the largest amount {MAX_AMOUNT}"
        )
    tax_text = (row.get("tax_rate") or "").strip()
    if not _TAX.fullmatch(tax_text):
        return RowError(
            line,
            "tax_rate",
            f"expected a percentage 0 to 99.99 like 19 or 7.5, got {_show(tax_text)}",
        )
    return Product(barcode, name, int(price_text), Decimal(tax_text))


def _show(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text)} characters)"


def read_csv(path: Path) -> tuple[list[Product], list[RowError]]:
    """Parse the catalog CSV; the last row for a barcode wins.

    The file is decoded once, bytes that are not UTF-8 kept as escapes, so a bad byte costs its
    own row (reported), not the import — and a decoder error can never repeat forever.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot open: {exc.strerror}") from None
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    products: dict[str, Product] = {}
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as exc:
        raise CatalogFileError(f"{path}: line 1: {exc}") from None
    if header != HEADER:
        shown = _show(",".join(header)) if header else "nothing"
        raise CatalogFileError(f"{path}: line 1: header must be {','.join(HEADER)}, got {shown}")
    while True:
        before = reader.line_num
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, "row", str(exc)))
            if reader.line_num == before:  # the reader did not move on: stop, do not spin
                break
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if any(_NOT_UTF8.search(c) for c in cells):
            errors.append(RowError(line, "row", "not UTF-8 text (save the file as UTF-8)"))
            continue
        if len(cells) != len(HEADER):
            errors.append(RowError(line, "row", f"expected {len(HEADER)} fields, got {len(cells)}"))
            continue
        result = _parse_row(line, dict(zip(HEADER, cells, strict=True)))
        if isinstance(result, RowError):
            errors.append(result)
        else:
            products[result.barcode] = result
    return list(products.values()), errors


DEMO_PRODUCTS = [
    Product("4006381333931", "Stabilo pen", 129, Decimal("19")),
    Product("5000112637922", "Cola 0.5 l", 189, Decimal("19")),
    Product("4001686301265", "Gummy bears 200 g", 149, Decimal("7")),
    Product("3017620422003", "Hazelnut spread 400 g", 399, Decimal("7")),
    Product("96385074", "Espresso beans 250 g", 649, Decimal("7")),
    Product("036000291452", "Tissues", 249, Decimal("19")),
    Product("2112345", "Cheese (by price)", 0, Decimal("7")),
    Product("SIM-CROISSANT", "Croissant au beurre", 95, Decimal("7")),
]
