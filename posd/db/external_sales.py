"""Sales rung up on the shop's own POS (table ``external_sales``, DESIGN §12): their one owner.

A row is written inside the sale's own transaction (:func:`posd.till.salewriter.write_sales`),
so an external id is bound to exactly one seq or to none: a retry after a crash either finds
the sale or makes it, never a second one. Only a hash of the request is kept, to tell an
identical retry (same answer) from a different body under the same id (409).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from posd.db.sales import SaleRecord
from posd.db.store import Store


@dataclass(frozen=True)
class ExternalRow:
    external_id: str
    seq: int
    body_hash: str
    print: bool


class ExternalSales:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def insert(conn: sqlite3.Connection, records: list[SaleRecord], now: float) -> None:
        """The external ids of a group of sales (those that have one), in their transaction."""
        rows = [(*r.external, r.seq, int(r.print_receipt), now) for r in records if r.external]
        if rows:
            conn.executemany(
                "INSERT INTO external_sales(external_id, body_hash, seq, print, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def get(self, external_id: str) -> ExternalRow | None:
        row = self.store.one(
            "SELECT external_id, seq, body_hash, print FROM external_sales WHERE external_id = ?",
            (external_id,),
        )
        return ExternalRow(row[0], row[1], row[2], bool(row[3])) if row else None

    def count(self) -> int:
        row = self.store.one("SELECT count(*) FROM external_sales")
        return int(row[0]) if row else 0
