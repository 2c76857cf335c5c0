"""Products from SQLite, and the CSV import a store owner runs (DESIGN §6).

The import keeps every good row, reports each bad one by its file line (header = line 1),
and works while the daemon runs: the daemon reads products from the database on each scan
lookup, so an import takes effect without a restart.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from posd.barcode import BadBarcode, parse
from posd.store import Store

HEADER = ["barcode", "name", "price_minor", "tax_rate"]


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


class CatalogFileError(ValueError):
    """The file as a whole cannot be imported (missing, not CSV, wrong header)."""


class Catalog:
    """Product lookups, cached in memory; an import by another process shows within a second."""

    RECHECK_S = 1.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, Product | None] = {}
        self._version: str | None = None
        self._checked = 0.0

    def get(self, barcode: str) -> Product | None:
        now = time.monotonic()
        if now - self._checked > self.RECHECK_S:
            version = self.store.get_meta("catalog_version", "0")
            if version != self._version:
                self._cache.clear()
                self._version = version
            self._checked = now
        try:
            return self._cache[barcode]
        except KeyError:
            pass
        row = self.store.one(
            "SELECT barcode, name, price_minor, tax_rate FROM products WHERE barcode = ?",
            (barcode,),
        )
        product = Product(row[0], row[1], row[2], Decimal(row[3])) if row else None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[barcode] = product
        return product

    def count(self) -> int:
        return self.store.one("SELECT count(*) FROM products")[0]

    def upsert(self, products: list[Product]) -> None:
        now = int(time.time())
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO products(barcode, name, price_minor, tax_rate, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(barcode) DO UPDATE SET name = excluded.name, "
                "price_minor = excluded.price_minor, tax_rate = excluded.tax_rate, "
                "updated_at = excluded.updated_at",
                [(p.barcode, p.name, p.price_minor, str(p.tax_rate), now) for p in products],
            )
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('catalog_version', '1') ON CONFLICT(key) "
                "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
            )
        self._checked = 0.0  # this process sees its own change at once

    def import_csv(self, path: Path) -> ImportResult:
        products, errors = read_csv(path)
        if products:
            self.upsert(products)
        self.store.log_event(
            "catalog_import", {"file": str(path), "imported": len(products), "errors": len(errors)}
        )
        return ImportResult(len(products), errors)


def _parse_row(line: int, row: dict[str, str]) -> Product | RowError:
    barcode = (row.get("barcode") or "").strip()
    name = (row.get("name") or "").strip()
    if not barcode:
        return RowError(line, "barcode", "empty")
    is_embedded_item = len(barcode) == 7 and barcode.startswith("2")  # e.g. 2112345 (DESIGN §6)
    if not is_embedded_item:
        try:
            parse(barcode)
        except BadBarcode as exc:
            return RowError(line, "barcode", str(exc))
    if not name:
        return RowError(line, "name", "empty")
    price_text = (row.get("price_minor") or "").strip()
    if not price_text.isdigit():
        return RowError(
            line, "price_minor", f"expected a whole number of minor units, got {price_text!r}"
        )
    tax_text = (row.get("tax_rate") or "").strip()
    try:
        tax = Decimal(tax_text)
    except InvalidOperation:
        return RowError(line, "tax_rate", f"expected a percentage like 19 or 7.5, got {tax_text!r}")
    if not tax.is_finite() or not 0 <= tax < 100:
        return RowError(line, "tax_rate", f"expected 0 to 99.99, got {tax_text!r}")
    return Product(barcode, name, int(price_text), tax)


def read_csv(path: Path) -> tuple[list[Product], list[RowError]]:
    """Parse the catalog CSV; the last row for a barcode wins."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot open: {exc.strerror}") from None
    products: dict[str, Product] = {}
    errors: list[RowError] = []
    with fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader, [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CatalogFileError(f"{path}: line 1: {exc}") from None
        if header != HEADER:
            raise CatalogFileError(
                f"{path}: line 1: header must be {','.join(HEADER)}, got {','.join(header) or 'nothing'}"
            )
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                errors.append(RowError(reader.line_num, "row", str(exc)))
                continue
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(HEADER):
                errors.append(
                    RowError(line, "row", f"expected {len(HEADER)} fields, got {len(cells)}")
                )
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
