"""Completed sales (tables ``sales``, ``sale_lines``, ``payments``): their one owner.

A sale is written once, inside the transaction that also queues its proof and its receipt
(see :mod:`posd.till.salewriter`), and afterwards only read — for receipts and reprints — or
marked refunded. ``insert`` is the hot path: plain ``executemany`` on the caller's connection,
one statement per table for a whole group of sales.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from posd.db.store import Store


@dataclass
class SaleRecord:
    """Everything one completed sale writes; built under the register's lock."""

    seq: int
    till: str
    time: int
    claim_address: str
    started_at: float
    currency: str
    total: int
    paid: int
    change: int
    lines: list[tuple[Any, ...]]  # (barcode, name, qty, unit_price, total, tax_rate)
    payments: list[tuple[str, int, str]]  # (tender, amount, reference)
    events: list[tuple[str, dict[str, Any]]]
    seed_id: int = 1  # the key file's claim seed this sale's claim key comes from
    external: tuple[str, str] | None = None  # (external_id, body hash): from the shop's POS (§12)
    print_receipt: bool = True  # False: the shop's POS prints the claim QR itself (§12)


FILLER = "filler"  # ``sales.kind`` of a seq the database lost (DESIGN §2): no goods, no claim
# ``sales.kind`` of a lost seq rebuilt from the chain's calldata (posd/chain/flush/adopt.py): its
# amount is known, its goods and the seed of its claim key are not (seed_id 0)
ADOPTED = "adopted"


@dataclass(frozen=True)
class SaleRow:
    seq: int
    till: str
    currency: str
    total: int
    change: int
    refunded: bool
    seed_id: int = 1
    kind: str = "sale"

    @property
    def filler(self) -> bool:
        return self.kind == FILLER

    @property
    def adopted(self) -> bool:
        return self.kind == ADOPTED


@dataclass(frozen=True)
class LineRow:
    name: str
    qty: str
    unit_price: int
    total: int
    tax_rate: str


@dataclass(frozen=True)
class PaymentRow:
    tender: str
    amount: int
    reference: str


class Sales:
    """Reads of stored sales; the writes take the caller's connection (its transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- writes, inside the caller's transaction ------------------------------------------------
    @staticmethod
    def insert(conn: sqlite3.Connection, records: list[SaleRecord], completed_at: float) -> None:
        """Rows, lines and payments of consecutive sales: three statements for the group."""
        conn.executemany(
            "INSERT INTO sales(seq, till, started_at, completed_at, currency, total, paid, change, "
            "seed_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.seq,
                    r.till,
                    r.started_at,
                    completed_at,
                    r.currency,
                    r.total,
                    r.paid,
                    r.change,
                    r.seed_id,
                )
                for r in records
            ],  # fmt: skip
        )
        conn.executemany(
            "INSERT INTO sale_lines(seq, line_no, barcode, name, qty, unit_price, total, tax_rate) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.seq, i, *line) for r in records for i, line in enumerate(r.lines)],
        )
        conn.executemany(
            "INSERT INTO payments(seq, idx, tender, amount, reference) VALUES (?, ?, ?, ?, ?)",
            [(r.seq, i, *p) for r in records for i, p in enumerate(r.payments)],
        )

    @staticmethod
    def insert_stubs(
        conn: sqlite3.Connection,
        till: str,
        kind: str,
        rows: list[tuple[int, int, float]],
        currency: str,
    ) -> None:
        """Rows ``(seq, total, time)`` of kind FILLER or ADOPTED for seqs the database lost (a
        filler's total is 0; an adopted record's is the chain's): paid in full, no lines, no
        claim seed (seed_id 0)."""
        conn.executemany(
            "INSERT INTO sales(seq, till, started_at, completed_at, currency, total, paid, change, "
            "seed_id, kind) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
            [(seq, till, at, at, currency, total, total, kind) for seq, total, at in rows],
        )

    @staticmethod
    def missing(conn: sqlite3.Connection, first: int, end: int) -> list[int]:
        """The seqs in [first, end) this database holds no row for."""
        have = {
            r[0]
            for r in conn.execute(
                "SELECT seq FROM sales WHERE seq >= ? AND seq < ?", (first, end)
            ).fetchall()
        }
        return [s for s in range(first, end) if s not in have]

    @staticmethod
    def last_currency(conn: sqlite3.Connection) -> str:
        row = conn.execute("SELECT currency FROM sales ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else "EUR"

    @staticmethod
    def mark_refunded(conn: sqlite3.Connection, seq: int) -> None:
        conn.execute("UPDATE sales SET refunded = 1 WHERE seq = ?", (seq,))

    @staticmethod
    def exists(conn: sqlite3.Connection, seq: int) -> bool:
        return conn.execute("SELECT 1 FROM sales WHERE seq = ?", (seq,)).fetchone() is not None

    @staticmethod
    def last_seq(conn: sqlite3.Connection, till: str) -> int:
        """The highest seq this database holds for ``till`` (0 when none)."""
        row = conn.execute("SELECT max(seq) FROM sales WHERE till = ?", (till,)).fetchone()
        return row[0] or 0

    # -- reads ----------------------------------------------------------------------------------
    def max_seed_id(self) -> int:
        """The highest claim seed id any stored sale was made under (0 when none)."""
        row = self.store.one("SELECT max(seed_id) FROM sales")
        return row[0] or 0

    def get(self, seq: int) -> SaleRow | None:
        row = self.store.one(
            "SELECT seq, till, currency, total, change, refunded, seed_id, kind FROM sales "
            "WHERE seq = ?",
            (seq,),
        )
        return SaleRow(*row[:5], bool(row[5]), row[6], row[7]) if row else None

    def lines(self, seq: int) -> list[LineRow]:
        rows = self.store.query(
            "SELECT name, qty, unit_price, total, tax_rate FROM sale_lines "
            "WHERE seq = ? ORDER BY line_no",
            (seq,),
        )
        return [LineRow(*r) for r in rows]

    def payments(self, seq: int) -> list[PaymentRow]:
        rows = self.store.query(
            "SELECT tender, amount, reference FROM payments WHERE seq = ? ORDER BY idx", (seq,)
        )
        return [PaymentRow(*r) for r in rows]
