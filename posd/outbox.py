"""The durable queue of purchase proofs (DESIGN §2-§3), in the till's SQLite file.

A proof is written in the same transaction as its sale and stays until it is confirmed on chain
(then for the retention period, for audits). States: ``pending`` → ``sending`` (in a signed batch
transaction) → ``committed`` (in a block) → ``confirmed`` (deep enough). A reorg or a failed
batch sends proofs back to ``pending``.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from posd.store import Store

STATES = ("pending", "sending", "committed", "confirmed")


class AlreadyCommitted(RuntimeError):
    """The proof is in a signed batch transaction: it can no longer change."""


class UnknownSale(LookupError):
    pass


@dataclass(frozen=True)
class ProofRow:
    seq: int
    till: str
    amount: int
    time: int
    claim_address: str
    state: str


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def enqueue(
        conn: sqlite3.Connection, seq: int, till: str, amount: int, at: int, claim_address: str
    ) -> None:
        """Add a proof inside the sale's own transaction (never on its own)."""
        now = time.time()
        conn.execute(
            "INSERT INTO proofs(seq, till, amount, time, claim_address, state, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
            (seq, till, amount, at, claim_address, now, now),
        )

    def get(self, seq: int) -> ProofRow | None:
        row = self.store.one(
            "SELECT seq, till, amount, time, claim_address, state FROM proofs WHERE seq = ?", (seq,)
        )
        return ProofRow(*row) if row else None

    def pending(self, till: str, limit: int) -> list[ProofRow]:
        rows = self.store.query(
            "SELECT seq, till, amount, time, claim_address, state FROM proofs "
            "WHERE state = 'pending' AND till = ? ORDER BY seq LIMIT ?",
            (till, limit),
        )
        return [ProofRow(*r) for r in rows]

    def refund(self, seq: int) -> None:
        """Zero the amount of a proof no batch has taken yet; the seq stays (gap-free)."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT state FROM proofs WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                raise UnknownSale(f"no sale with seq {seq}")
            if row[0] != "pending":
                raise AlreadyCommitted(
                    f"sale {seq} is already in a signed batch ({row[0]}); refund it in cash"
                )
            conn.execute(
                "UPDATE proofs SET amount = 0, updated_at = ? WHERE seq = ?", (time.time(), seq)
            )
            conn.execute("UPDATE sales SET refunded = 1 WHERE seq = ?", (seq,))
            self.store.log_event("sale_refunded", {"seq": seq}, conn=conn)
