"""The durable queue of purchase proofs (DESIGN §2-§3) and the one place its states change.

A proof is written in the same transaction as its sale and stays until it is confirmed on chain
(then for the retention period, for audits). Every state change of a proof, a batch or a signed
transaction attempt is a named method of :class:`Outbox`, each one SQLite transaction; the
flusher (posd/chain/flush) decides *when*, this module decides *what changes together*. Reads the
flusher needs are in :mod:`posd.db.batches`.

Proofs: ``pending`` (never in a signed transaction; a refund may still zero it) → ``sending`` (in
a signed transaction) → ``committed`` (in a canonical block) → ``confirmed`` (deep enough, or
finalized). A *requeued* proof is ``sending`` with ``batch_id`` NULL: the transaction that held it
was superseded, reverted or reorged out, and it goes into a new batch with the very same leaf data
(never back to ``pending``: the old transaction might still land, so a refund can no longer change
it). Batches: ``sent`` (signed, stored, broadcast or about to be) → ``committed`` → ``confirmed``,
or ``superseded`` (its nonce or seqs went to another transaction) / ``failed`` (reverted).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from posd.db import meta
from posd.db.sales import ADOPTED, FILLER, Sales
from posd.db.store import Store
from posd.errors import Conflict, NotFound

ZERO_ADDRESS = "0x" + "00" * 20


class ProofState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    COMMITTED = "committed"
    CONFIRMED = "confirmed"


class BatchState(StrEnum):
    SENT = "sent"
    COMMITTED = "committed"
    CONFIRMED = "confirmed"
    SUPERSEDED = "superseded"
    FAILED = "failed"


STATES = tuple(ProofState)
P, B = ProofState, BatchState
# proofs the chain does not have yet (never signed, or requeued)
UNSENT = f"('{P.PENDING}', '{P.SENDING}')"
_INSERT_PROOF = (
    "INSERT INTO proofs(seq, till, amount, time, claim_address, state, created_at, updated_at) "
    f"VALUES (?, ?, ?, ?, ?, '{P.PENDING}', ?, ?)"
)


class AlreadyCommitted(Conflict, RuntimeError):
    """The proof is in a signed batch transaction: it can no longer change."""

    code = "already_committed"


class UnknownSale(NotFound, LookupError):
    code = "unknown_sale"


@dataclass(frozen=True)
class ProofRow:
    seq: int
    till: str
    amount: int
    time: int
    claim_address: str
    state: str


Leaf = tuple[int, int, int, str]  # (seq, amount, time, claim_address): a proof's leaf data


@dataclass(frozen=True)
class Landed:
    """Where a batch's transaction landed (from its receipt or a BatchCommitted log)."""

    tx_hash: str | None = None
    block_number: int | None = None
    block_hash: str | None = None
    batch_index: int | None = None
    gas_used: int | None = None


class Outbox:
    """Proof, batch and transaction-attempt state transitions, each in one SQLite transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- proofs of sales -------------------------------------------------------------------------
    @staticmethod
    def enqueue_many(
        conn: sqlite3.Connection, proofs: Sequence[tuple[int, str, int, int, str]]
    ) -> None:
        """Proofs ``(seq, till, amount, time, claim_address)`` of a group of sales, in their
        transaction: one statement (the sale writer's group commit)."""
        now = time.time()
        conn.executemany(_INSERT_PROOF, [(*x, now, now) for x in proofs])

    # -- filler records for seqs the database lost (DESIGN §2) ---------------------------------------
    @staticmethod
    def enqueue_fillers(
        conn: sqlite3.Connection, till: str, seqs: list[int], at: int, currency: str
    ) -> None:
        """Zero-amount proofs to the zero address (unclaimable, like a refund) and their rows,
        so the chain stays gap-free past seqs whose proofs were lost."""
        now = time.time()
        Sales.insert_stubs(conn, till, FILLER, [(seq, 0, now) for seq in seqs], currency)
        conn.executemany(
            _INSERT_PROOF, [(seq, till, 0, at, ZERO_ADDRESS, now, now) for seq in seqs]
        )

    def cover_gap(self, till: str, chain_next: int, currency: str | None = None) -> list[int]:
        """With the chain's ``nextSeq`` known, write the fillers a restore left owed.

        ``meta.seq_gap`` = [from, to) are seqs the database lost; those from ``chain_next`` on
        that it holds no row for become fillers (the ones below are on chain already). Records
        ``chain_next`` for the register's check before its next sale. Returns the fillers.
        """
        marks = meta.Meta(self.store)
        with self.store.transaction() as conn:
            marks.set(meta.CHAIN_NEXT, {"next_seq": chain_next, "at": time.time()}, conn)
            gap = marks.get(meta.SEQ_GAP, conn)
            if not gap:
                return []
            seqs = Sales.missing(conn, max(int(gap["from"]), chain_next), int(gap["to"]))
            # the time the gap was found: no later than any sale after it, so time never
            # decreases along seq
            at = int(gap.get("at") or marks.get(meta.LAST_TIME, conn))
            currency = currency or Sales.last_currency(conn)  # the store's, as last sold
            self.enqueue_fillers(conn, till, seqs, at, currency)
            marks.delete(meta.SEQ_GAP, conn)
            case = marks.get(meta.SEQ_CASE, conn)
            if case:
                marks.set(
                    meta.SEQ_CASE, {**case, "fillers": _span(seqs), "chain": chain_next}, conn
                )
            self.store.log_event(
                "fillers_written",
                {"till": till, "seqs": _span(seqs), "chain": chain_next},
                conn=conn,
            )
        return seqs

    def get(self, seq: int) -> ProofRow | None:
        row = self.store.one(
            "SELECT seq, till, amount, time, claim_address, state FROM proofs WHERE seq = ?", (seq,)
        )
        return ProofRow(*row) if row else None

    def refund(self, seq: int) -> None:
        """Zero the amount of a proof no batch has taken yet, and mark its sale refunded; the
        seq stays (gap-free)."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT state FROM proofs WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                raise UnknownSale(f"no sale with seq {seq}")
            if row[0] != P.PENDING:
                raise AlreadyCommitted(
                    f"sale {seq} is already in a signed batch ({row[0]}); refund it in cash"
                )
            conn.execute(
                "UPDATE proofs SET amount = 0, updated_at = ? WHERE seq = ?", (time.time(), seq)
            )
            Sales.mark_refunded(conn, seq)
            self.store.log_event("sale_refunded", {"seq": seq}, conn=conn)

    def void_unencodable(self, seq: int, reason: str) -> dict | None:
        """A proof no batch record can carry (an amount past uint48 stored before the till
        bounded amounts, a malformed claim address): it becomes a zero-amount record to the
        zero address, like a filler (unclaimable, the seq stays gap-free), and an event keeps
        what it held. Only before any batch took it; returns what it held, or None."""
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT amount, time, claim_address FROM proofs WHERE seq = ? AND batch_id IS NULL "
                f"AND state IN {UNSENT}",
                (seq,),
            ).fetchone()
            if row is None:
                return None
            held = {"seq": seq, "amount": str(row[0]), "time": row[1], "claim_address": row[2]}
            at = row[1] if isinstance(row[1], int) and 0 <= row[1] < 1 << 32 else 0
            conn.execute(
                "UPDATE proofs SET amount = 0, time = ?, claim_address = ?, updated_at = ? "
                "WHERE seq = ?",
                (at, ZERO_ADDRESS, time.time(), seq),
            )
            self.store.log_event("proof_voided", {**held, "reason": reason}, conn=conn)
        return held

    def drop_confirmed(self, before: float, chunk: int = 2000) -> int:
        """Retention: delete up to ``chunk`` confirmed proofs last changed before ``before``."""
        with self.store.transaction() as conn:
            return conn.execute(
                "DELETE FROM proofs WHERE seq IN (SELECT seq FROM proofs WHERE "
                f"state = '{P.CONFIRMED}' AND updated_at < ? LIMIT ?)",
                (before, chunk),
            ).rowcount

    # -- a batch is signed -------------------------------------------------------------------------
    def bind_batch(
        self,
        till: str,
        leaves: Sequence[Leaf],
        root: str,
        nonce: int,
        gas: int,
        fees: tuple[int, int],
        sign: Callable[[], tuple[str, str]],
    ) -> int | None:
        """Store a signed batch transaction and bind its proofs (→ ``sending``), atomically.

        ``sign()`` runs inside the transaction and returns ``(raw_tx_hex, tx_hash)``, so a refund
        cannot slip between reading the proofs and signing them. None when the proofs changed
        since ``leaves`` was read (a refund): nothing is written.
        """
        first, last = leaves[0][0], leaves[-1][0]
        max_fee, priority_fee = fees
        with self.store.transaction() as conn:
            rows = conn.execute(
                "SELECT seq, amount, time, claim_address FROM proofs WHERE till = ? AND seq >= ? "
                f"AND seq <= ? AND batch_id IS NULL AND state IN {UNSENT} ORDER BY seq",
                (till, first, last),
            ).fetchall()
            if [tuple(r) for r in rows] != [tuple(x) for x in leaves]:
                return None
            raw_hex, tx_hash = sign()
            now = time.time()
            cur = conn.execute(
                "INSERT INTO batches(till, first_seq, count, root, state, nonce, gas, max_fee, "
                "priority_fee, raw_tx, tx_hashes, sent_at, created_at, updated_at) "
                f"VALUES (?, ?, ?, ?, '{B.SENT}', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (till, first, len(leaves), root, nonce, gas, max_fee, priority_fee, raw_hex,
                 json.dumps([tx_hash]), now, now, now),
            )  # fmt: skip
            batch_id = int(cur.lastrowid or 0)
            conn.execute(
                "INSERT INTO tx_attempts(tx_hash, batch_id, nonce, max_fee, priority_fee, raw_tx, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (tx_hash, batch_id, nonce, max_fee, priority_fee, raw_hex, now),
            )
            conn.execute(
                f"UPDATE proofs SET state = '{P.SENDING}', batch_id = ?, updated_at = ? "
                "WHERE till = ? AND seq >= ? AND seq <= ?",
                (batch_id, now, till, first, last),
            )
        return batch_id

    def replaced(
        self, batch_id: int, nonce: int, hashes: list[str], raw_hex: str, fees: tuple[int, int]
    ) -> None:
        """A fee-bumped transaction for the same nonce: ``hashes`` ends with its hash."""
        max_fee, priority_fee = fees
        now = time.time()
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE batches SET raw_tx = ?, tx_hashes = ?, max_fee = ?, priority_fee = ?, "
                "sent_at = ?, updated_at = ? WHERE id = ?",
                (raw_hex, json.dumps(hashes), max_fee, priority_fee, now, now, batch_id),
            )
            conn.execute(
                "INSERT OR IGNORE INTO tx_attempts(tx_hash, batch_id, nonce, max_fee, priority_fee, "
                "raw_tx, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (hashes[-1], batch_id, nonce, max_fee, priority_fee, raw_hex, now),
            )
            self.store.log_event(
                "tx_replaced",
                {"batch": batch_id, "nonce": nonce, "max_fee": max_fee, "hash": hashes[-1]},
                conn=conn,
            )

    def note_error(self, batch_id: int, error: str, *, replace_now: bool = False) -> None:
        """A broadcast refused (the batch stays ``sent``); ``replace_now`` makes it due at once."""
        if replace_now:
            self.store.execute(
                "UPDATE batches SET error = ?, updated_at = ?, sent_at = 0 WHERE id = ?",
                (error[:300], time.time(), batch_id),
            )
        else:
            self.store.execute(
                "UPDATE batches SET error = ?, updated_at = ? WHERE id = ?",
                (error[:300], time.time(), batch_id),
            )

    def postpone(self, batch_id: int, error: str) -> None:
        """No replacement possible now (fee cap): wait another ``tx_timeout_s``."""
        self.store.execute(
            "UPDATE batches SET sent_at = ?, error = ? WHERE id = ?", (time.time(), error, batch_id)
        )

    # -- on chain ----------------------------------------------------------------------------------
    def mark_committed(self, batch_id: int, at: Landed) -> None:
        """Its receipt is in: batch and proofs → ``committed``. The first commit ever also
        records the block a log search for this till's batches must start at."""
        now = time.time()
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE batches SET state = '{B.COMMITTED}', tx_hash = ?, block_number = ?, "
                "block_hash = ?, batch_index = ?, gas_used = ?, error = '', updated_at = ? "
                f"WHERE id = ? AND state = '{B.SENT}'",
                (at.tx_hash, at.block_number, at.block_hash, at.batch_index, at.gas_used, now,
                 batch_id),
            )  # fmt: skip
            conn.execute(
                f"UPDATE proofs SET state = '{P.COMMITTED}', updated_at = ? WHERE batch_id = ?",
                (now, batch_id),
            )
            if at.block_number is not None:
                meta.Meta.set_default(conn, meta.FLUSH_SCAN_FROM, max(0, at.block_number - 1))

    def found_on_chain(
        self, till: str, first: int, count: int, root: str, at: Landed, lost: Sequence[Leaf] = ()
    ) -> int:
        """A chain batch over proofs the outbox did not know as committed: adopt it.

        The batch row that signed it (by hash, else by its seqs and root; a new row if none) is
        ``committed``; other in-flight batches over these seqs lost the race and are requeued.
        ``lost``: records of seqs the database lost (a restored backup), rebuilt from the
        batch's calldata: written back first, as sales of kind ``adopted`` and their proofs.
        """
        now = time.time()
        with self.store.transaction() as conn:
            if lost:
                _write_adopted(self.store, conn, till, lost)
            row = (
                conn.execute(
                    "SELECT b.id FROM batches b JOIN tx_attempts a ON a.batch_id = b.id "
                    "WHERE a.tx_hash = ? AND b.first_seq = ? AND b.count = ? AND b.root = ?",
                    (at.tx_hash, first, count, root),
                ).fetchone()
                or conn.execute(
                    "SELECT id FROM batches WHERE till = ? AND first_seq = ? AND count = ? AND root = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (till, first, count, root),
                ).fetchone()
            )
            if row is None:
                batch_id = conn.execute(
                    "INSERT INTO batches(till, first_seq, count, root, state, created_at, "
                    f"updated_at, error) VALUES (?, ?, ?, ?, '{B.COMMITTED}', ?, ?, ?)",
                    (till, first, count, root, now, now, "found on chain"),
                ).lastrowid
            else:
                batch_id = row[0]
            conn.execute(
                f"UPDATE batches SET state = '{B.COMMITTED}', batch_index = ?, tx_hash = ?, "
                "block_number = ?, block_hash = ?, gas_used = coalesce(?, gas_used), "
                "updated_at = ? WHERE id = ?",
                (at.batch_index, at.tx_hash, at.block_number, at.block_hash, at.gas_used, now,
                 batch_id),
            )  # fmt: skip
            losers = conn.execute(
                f"SELECT id FROM batches WHERE till = ? AND state = '{B.SENT}' AND id != ? "
                "AND first_seq < ? AND first_seq + count > ?",
                (till, batch_id, first + count, first),
            ).fetchall()
            for (loser,) in losers:
                self._requeue(conn, loser, B.SUPERSEDED, "seqs committed by another transaction")
            conn.execute(
                f"UPDATE proofs SET state = '{P.COMMITTED}', batch_id = ?, updated_at = ? "
                "WHERE till = ? AND seq >= ? AND seq < ?",
                (batch_id, now, till, first, first + count),
            )
            self.store.log_event(
                "batch_found_on_chain",
                {"batch": batch_id, "index": at.batch_index, "first_seq": first, "count": count},
                conn=conn,
            )
        return int(batch_id or 0)

    def confirm(self, batch_ids: Sequence[int]) -> None:
        """Deep enough (or finalized): committed batches and their proofs → ``confirmed``."""
        if not batch_ids:
            return
        now = time.time()
        marks = ",".join("?" * len(batch_ids))
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE batches SET state = '{B.CONFIRMED}', updated_at = ? WHERE id IN ({marks})",
                (now, *batch_ids),
            )
            conn.execute(
                f"UPDATE proofs SET state = '{P.CONFIRMED}', updated_at = ? "
                f"WHERE batch_id IN ({marks}) AND state = '{P.COMMITTED}'",
                (now, *batch_ids),
            )

    # -- given up ----------------------------------------------------------------------------------
    def requeue(self, batch_id: int, state: BatchState, why: str) -> None:
        """The batch is ``superseded`` or ``failed``: its proofs wait for a new batch."""
        with self.store.transaction() as conn:
            self._requeue(conn, batch_id, state, why)
            self.store.log_event("batch_requeued", {"batch": batch_id, "why": why}, conn=conn)

    def _requeue(
        self, conn: sqlite3.Connection, batch_id: int, state: BatchState, why: str
    ) -> None:
        now = time.time()
        conn.execute(
            "UPDATE batches SET state = ?, error = ?, updated_at = ? WHERE id = ?",
            (state.value, why, now, batch_id),
        )
        conn.execute(
            f"UPDATE proofs SET state = '{P.SENDING}', batch_id = NULL, updated_at = ? "
            f"WHERE batch_id = ? AND state = '{P.SENDING}'",
            (now, batch_id),
        )

    def demote(self, batch: Any, *, resend: bool, why: str) -> None:
        """A committed/confirmed batch left the canonical chain (``batch``: a row of
        :meth:`~posd.db.batches.Batches.landed`). ``resend``: its signed transaction is still
        valid (nonce unspent), so it goes back to ``sent``; else it is superseded and requeued."""
        now = time.time()
        with self.store.transaction() as conn:
            if resend:
                conn.execute(
                    f"UPDATE batches SET state = '{B.SENT}', sent_at = ?, block_number = NULL, "
                    "block_hash = NULL, tx_hash = NULL, batch_index = NULL, updated_at = ? "
                    "WHERE id = ?",
                    (now, now, batch["id"]),
                )
                conn.execute(
                    f"UPDATE proofs SET state = '{P.SENDING}', updated_at = ? WHERE batch_id = ?",
                    (now, batch["id"]),
                )
            else:
                conn.execute(
                    f"UPDATE batches SET state = '{B.SUPERSEDED}', updated_at = ?, error = ? "
                    "WHERE id = ?",
                    (now, why, batch["id"]),
                )
                conn.execute(
                    f"UPDATE proofs SET state = '{P.SENDING}', batch_id = NULL, updated_at = ? "
                    "WHERE batch_id = ?",
                    (now, batch["id"]),
                )
            self.store.log_event(
                "batch_reorged",
                {
                    "batch": batch["id"],
                    "first_seq": batch["first_seq"],
                    "count": batch["count"],
                    "was": batch["state"],
                    "block": batch["block_number"],
                },
                conn=conn,
            )


class NotAdoptable(Conflict, RuntimeError):
    """Lost seqs cannot be written back (yet): rows exist, or the till is not past them."""

    code = "not_adoptable"


def _write_adopted(store: Store, conn: sqlite3.Connection, till: str, lost: Sequence[Leaf]) -> None:
    """Seqs a restored database lost, rebuilt from the chain (DESIGN §2): only seqs it holds no
    row for, and only below its next seq, so the till can never issue one of them again."""
    seqs = [x[0] for x in lost]
    marks = meta.Meta(store)
    next_seq = marks.get(meta.NEXT_SEQ, conn)
    if Sales.missing(conn, seqs[0], seqs[-1] + 1) != seqs:
        raise NotAdoptable(f"seqs {seqs[0]}..{seqs[-1]}: this database holds rows among them")
    if seqs[-1] >= next_seq:
        raise NotAdoptable(
            f"seqs {seqs[0]}..{seqs[-1]} are not behind the till's next seq {next_seq} yet: it "
            "moves past them once it has read nextSeq from the chain (at start or its next sale)"
        )
    now = time.time()
    rows = [(seq, amount, at) for seq, amount, at, _ in lost]
    Sales.insert_stubs(conn, till, ADOPTED, rows, Sales.last_currency(conn))
    conn.executemany(_INSERT_PROOF, [(s, till, a, t, c, now, now) for s, a, t, c in lost])
    latest = max(x[2] for x in lost)  # time never decreases along seq
    marks.set(meta.LAST_TIME, max(latest, marks.get(meta.LAST_TIME, conn)), conn)
    store.log_event("records_adopted", {"till": till, "seqs": _span(seqs)}, conn=conn)


def _span(seqs: list[int]) -> list[int] | None:
    """[first, last] of consecutive seqs (None for none): how fillers are reported."""
    return [seqs[0], seqs[-1]] if seqs else None
