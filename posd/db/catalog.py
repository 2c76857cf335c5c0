"""The product catalog (table ``products`` and meta ``catalog_version``): their one owner.

Every upsert bumps ``catalog_version`` in the same transaction, so a daemon that caches lookups
sees an import made by another process (`posd catalog import`) on its next version check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from posd.db import meta
from posd.db.meta import Meta
from posd.db.store import Store


@dataclass(frozen=True)
class ProductRow:
    barcode: str
    name: str
    price_minor: int
    tax_rate: str  # a decimal as text, e.g. "19" or "7.5"


class Products:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.meta = Meta(store)

    def get(self, barcode: str) -> ProductRow | None:
        row = self.store.one(
            "SELECT barcode, name, price_minor, tax_rate FROM products WHERE barcode = ?",
            (barcode,),
        )
        return ProductRow(*row) if row else None

    def count(self) -> int:
        return self.store.one("SELECT count(*) FROM products")[0]

    def version(self) -> int:
        return self.meta.get(meta.CATALOG_VERSION)

    def upsert(self, rows: list[ProductRow]) -> None:
        """Insert or replace products by barcode, and bump the catalog version, atomically."""
        now = int(time.time())
        with self.store.transaction() as conn:
            conn.executemany(
                "INSERT INTO products(barcode, name, price_minor, tax_rate, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(barcode) DO UPDATE SET name = excluded.name, "
                "price_minor = excluded.price_minor, tax_rate = excluded.tax_rate, "
                "updated_at = excluded.updated_at",
                [(r.barcode, r.name, r.price_minor, r.tax_rate, now) for r in rows],
            )
            Meta.increment(conn, meta.CATALOG_VERSION)

    def log_import(self, file: str, imported: int, errors: int) -> None:
        self.store.log_event(
            "catalog_import", {"file": file, "imported": imported, "errors": errors}
        )
