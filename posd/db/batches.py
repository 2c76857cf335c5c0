"""Read-only queries on the outbox for the flusher: proofs to batch, batches in flight, attempts.

Every write to ``proofs``, ``batches`` and ``tx_attempts`` is a transition in
:mod:`posd.db.outbox`; this module only reads, each query one statement on the caller's
connection (so the flusher's own connection never holds a transaction across network I/O).
Rows are ``sqlite3.Row`` (by name) or plain tuples, as the hot paths want; :func:`queue_status`
is what `posd queue` and the status page show.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from posd.db import meta
from posd.db.outbox import UNSENT, BatchState, Leaf, ProofState
from posd.db.store import Store

P, B = ProofState, BatchState


class Batches:
    """Queries scoped to one till (``till``) unless said otherwise."""

    def __init__(self, store: Store, till: str = "") -> None:
        self.store = store
        self.till = till

    def _scalar(self, sql: str, args: tuple = ()) -> int | None:
        row = self.store.one(sql, args)
        return row[0] if row else None

    # -- proofs ------------------------------------------------------------------------------------
    def unsent_count(self, any_till: bool = False) -> int:
        """Proofs not on chain yet (pending or sending), of this till or of any."""
        if any_till:
            return self._scalar(f"SELECT count(*) FROM proofs WHERE state IN {UNSENT}") or 0
        return (
            self._scalar(
                f"SELECT count(*) FROM proofs WHERE till = ? AND state IN {UNSENT}", (self.till,)
            )
            or 0
        )

    def pending_count(self) -> int:
        """Proofs of any till never signed into a transaction (the scheduler's backlog)."""
        return self._scalar(f"SELECT count(*) FROM proofs WHERE state = '{P.PENDING}'") or 0

    def unbatched_count(self) -> int:
        return (
            self._scalar(
                "SELECT count(*) FROM proofs WHERE till = ? AND batch_id IS NULL "
                f"AND state IN {UNSENT}",
                (self.till,),
            )
            or 0
        )

    def unconfirmed_count(self) -> int:
        return (
            self._scalar(
                "SELECT count(*) FROM proofs WHERE till = ? "
                f"AND state IN ('{P.PENDING}', '{P.SENDING}', '{P.COMMITTED}')",
                (self.till,),
            )
            or 0
        )

    def max_seq(self) -> int:
        return self._scalar("SELECT max(seq) FROM proofs WHERE till = ?", (self.till,)) or 0

    def first_unbatched(self) -> int | None:
        return self._scalar(
            "SELECT min(seq) FROM proofs WHERE till = ? AND batch_id IS NULL "
            f"AND state IN {UNSENT}",
            (self.till,),
        )

    def first_unsent_below(self, seq: int) -> int | None:
        """The lowest seq under ``seq`` the outbox does not know as committed."""
        return self._scalar(
            f"SELECT min(seq) FROM proofs WHERE till = ? AND seq < ? AND state IN {UNSENT}",
            (self.till, seq),
        )

    def unbatched(self, first: int, limit: int) -> list[Leaf]:
        """Up to ``limit`` consecutive unbatched proofs from ``first`` (stops at a gap)."""
        rows = self.store.query(
            "SELECT seq, amount, time, claim_address FROM proofs WHERE till = ? AND seq >= ? "
            f"AND batch_id IS NULL AND state IN {UNSENT} ORDER BY seq LIMIT ?",
            (self.till, first, limit),
        )
        out: list[Leaf] = []
        for r in rows:
            if r[0] != first + len(out):
                break
            out.append((r[0], r[1], r[2], r[3]))
        return out

    def leaves(self, first: int, count: int) -> list[Leaf]:
        """The leaf data of seqs [first, first + count), whatever their state."""
        rows = self.store.query(
            "SELECT seq, amount, time, claim_address FROM proofs WHERE till = ? AND seq >= ? "
            "AND seq < ? ORDER BY seq",
            (self.till, first, first + count),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # -- batches -----------------------------------------------------------------------------------
    def inflight_count(self) -> int:
        """Batches of any till in flight (``sent``)."""
        return self._scalar(f"SELECT count(*) FROM batches WHERE state = '{B.SENT}'") or 0

    def sent(self) -> list[sqlite3.Row]:
        """In-flight batches, by nonce: id, first_seq, count, nonce."""
        return self.store.query(
            "SELECT id, first_seq, count, nonce FROM batches WHERE till = ? "
            f"AND state = '{B.SENT}' ORDER BY nonce, id",
            (self.till,),
        )

    def sent_full(self) -> list[sqlite3.Row]:
        """In-flight batches with their signed transaction and fees, by nonce."""
        return self.store.query(
            "SELECT id, first_seq, count, root, nonce, gas, max_fee, priority_fee, raw_tx, "
            f"tx_hashes, sent_at FROM batches WHERE till = ? AND state = '{B.SENT}' "
            "ORDER BY nonce",
            (self.till,),
        )

    def committed(self) -> list[sqlite3.Row]:
        """Committed batches waiting for depth, by block: id, count, block_number, block_hash."""
        return self.store.query(
            "SELECT id, count, block_number, block_hash FROM batches WHERE till = ? "
            f"AND state = '{B.COMMITTED}' ORDER BY block_number",
            (self.till,),
        )

    def landed(self, chain_next: int) -> list[sqlite3.Row]:
        """Batches the outbox believes on chain that a reorg may have taken: every committed
        one, and confirmed ones at or past the chain's ``nextSeq``."""
        return self.store.query(
            "SELECT id, first_seq, count, nonce, block_number, block_hash, state FROM batches "
            f"WHERE till = ? AND (state = '{B.COMMITTED}' OR (state = '{B.CONFIRMED}' "
            "AND first_seq >= ?)) ORDER BY first_seq",
            (self.till, chain_next),
        )

    def recent_gas_used(self, last: int = 20) -> float | None:
        """Mean gas used by the last ``last`` batches with a receipt (any till)."""
        row = self.store.one(
            "SELECT avg(gas_used) FROM (SELECT gas_used FROM batches WHERE gas_used IS NOT NULL "
            "ORDER BY id DESC LIMIT ?)",
            (last,),
        )
        return row[0] if row else None

    # -- transaction attempts ----------------------------------------------------------------------
    def max_nonce(self) -> int | None:
        """The highest nonce this till ever signed a batch transaction with."""
        return self._scalar(
            "SELECT max(a.nonce) FROM tx_attempts a JOIN batches b ON a.batch_id = b.id "
            "WHERE b.till = ?",
            (self.till,),
        )

    def attempt_hashes(self, batch_id: int) -> list[str]:
        rows = self.store.query(
            "SELECT tx_hash FROM tx_attempts WHERE batch_id = ? ORDER BY created_at", (batch_id,)
        )
        return [r[0] for r in rows]

    def hashes_of(self, first: int, count: int, root: str) -> list[str]:
        """Every transaction signed for a batch with these seqs and root (any batch row)."""
        rows = self.store.query(
            "SELECT a.tx_hash FROM tx_attempts a JOIN batches b ON a.batch_id = b.id "
            "WHERE b.first_seq = ? AND b.count = ? AND b.root = ?",
            (first, count, root),
        )
        return [r[0] for r in rows]

    def top_fees(self, nonce: int) -> tuple[int, int] | None:
        """The highest (max_fee, priority_fee) this till signed for ``nonce``, if any."""
        row = self.store.one(
            "SELECT max(max_fee), max(priority_fee) FROM tx_attempts WHERE nonce = ? "
            "AND batch_id IN (SELECT id FROM batches WHERE till = ?)",
            (nonce, self.till),
        )
        if not row or row[0] is None:
            return None
        return int(row[0]), int(row[1])


def queue_status(store: Store, link: dict[str, Any]) -> dict[str, Any]:
    """Counts by state, the oldest pending age, batches by state, last error, and ``link``.

    ``link`` is the link health, ``posd.chain.flush.link.link_status(store)``: the db package
    sits below the chain package, so the caller reads it and passes it in.
    """
    counts = {s.value: 0 for s in ProofState}
    for state, n in store.query("SELECT state, count(*) FROM proofs GROUP BY state"):
        counts[state] = n
    requeued = store.one(
        f"SELECT count(*) FROM proofs WHERE state = '{P.SENDING}' AND batch_id IS NULL"
    )[0]
    oldest = store.one(f"SELECT min(created_at) FROM proofs WHERE state IN {UNSENT}")[0]
    batches = dict(store.query("SELECT state, count(*) FROM batches GROUP BY state"))
    return {
        "counts": counts,
        "requeued": requeued,
        "total": sum(counts.values()),
        "oldest_pending_age_s": round(time.time() - oldest, 1) if oldest else None,
        "batches": batches,
        "last_error": meta.Meta(store).get(meta.FLUSH_LAST_ERROR) or None,
        "link": link,
    }
