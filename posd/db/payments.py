"""DSG payment requests, the transfers the watcher saw and its cursor (DESIGN §10): one owner.

Tables ``dsg_payments`` (a request, its cart, its state), ``dsg_references`` (every reference a
request asked under: the first and one per "rest"), ``dsg_transfers`` (DSG ``Transfer`` logs to
the payout address in this till's slot, and what each turned out to be), ``dsg_watch`` (the
watcher's cursor) and ``dsg_blocks`` (hashes of recently processed blocks, to see reorgs).
Wei amounts are decimal strings: they pass SQLite's 64-bit integers.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from posd.db import events
from posd.db.store import Store

OPEN_STATES = ("awaiting", "confirming", "underpaid")
KEEP_BLOCKS = 512  # block hashes kept for the reorg check


@dataclass(frozen=True)
class Transfer:
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    block_time: int
    sender: str
    value: int
    reference: int
    payment_id: str | None = None
    kind: str = "new"

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "block_number": self.block_number,
            "block_time": self.block_time,
            "from": self.sender,
            "value_wei": str(self.value),
            "reference": self.reference,
            "payment_id": self.payment_id,
            "kind": self.kind,
        }


_PAYMENT_COLUMNS = (
    "id, state, owner, created_at, updated_at, expires_at, token, chain_id, payout, till_slot, "
    "currency, due, discount, rate, request_wei, required_wei, amount_wei, reference, "
    "received_wei, overpaid_wei, seq, cart, closed_at"
)
_TRANSFER_COLUMNS = (
    "tx_hash, log_index, block_number, block_hash, block_time, sender, value, reference, "
    "payment_id, kind"
)


def _payment(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row)
    out["cart"] = json.loads(out["cart"])
    for key in ("request_wei", "required_wei", "amount_wei", "received_wei", "overpaid_wei"):
        out[key] = int(out[key])
    return out


def _transfer(row: sqlite3.Row) -> Transfer:
    r = tuple(row)
    return Transfer(*r[:6], int(r[6]), *r[7:])


class Payments:
    """Reads and writes of the DSG tables; each write is its own transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- requests -------------------------------------------------------------------------------
    def create(self, p: dict[str, Any]) -> None:
        now = time.time()
        row = {**p, "cart": json.dumps(p["cart"], sort_keys=True), "created_at": now}
        row["updated_at"] = now
        for key in ("request_wei", "required_wei", "amount_wei"):
            row[key] = str(row[key])
        names = [k for k in row if k in _PAYMENT_COLUMNS.split(", ")]
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO dsg_payments({', '.join(names)}) "
                f"VALUES ({', '.join('?' for _ in names)})",
                [row[k] for k in names],
            )
            conn.execute(
                "INSERT INTO dsg_references(reference, payment_id, created_at) VALUES (?, ?, ?)",
                (p["reference"], p["id"], now),
            )

    def get(self, payment_id: str) -> dict[str, Any] | None:
        return _payment(
            self.store.one(
                f"SELECT {_PAYMENT_COLUMNS} FROM dsg_payments WHERE id = ?", (payment_id,)
            )
        )

    def open_ones(self) -> list[dict[str, Any]]:
        rows = self.store.query(
            f"SELECT {_PAYMENT_COLUMNS} FROM dsg_payments WHERE state IN (?, ?, ?) "
            "ORDER BY created_at",
            OPEN_STATES,
        )
        return [_payment(r) for r in rows]  # type: ignore[misc]

    def unsettled(self) -> list[dict[str, Any]]:
        """Paid requests whose sale is not recorded yet (a restart between the two)."""
        rows = self.store.query(
            f"SELECT {_PAYMENT_COLUMNS} FROM dsg_payments WHERE state = 'paid' AND seq IS NULL"
        )
        return [_payment(r) for r in rows]  # type: ignore[misc]

    def listing(self, states: Iterable[str] = (), limit: int = 200) -> list[dict[str, Any]]:
        states = list(states)
        where = f"WHERE state IN ({', '.join('?' for _ in states)})" if states else ""
        rows = self.store.query(
            f"SELECT {_PAYMENT_COLUMNS} FROM dsg_payments {where} ORDER BY created_at DESC LIMIT ?",
            (*states, limit),
        )
        return [_payment(r) for r in rows]  # type: ignore[misc]

    def update(self, payment_id: str, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        for key in ("amount_wei", "required_wei", "received_wei", "overpaid_wei"):
            if key in fields:
                fields[key] = str(fields[key])
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE dsg_payments SET {sets} WHERE id = ?", (*fields.values(), payment_id)
            )
            if "reference" in fields:
                conn.execute(
                    "INSERT OR IGNORE INTO dsg_references(reference, payment_id, created_at) "
                    "VALUES (?, ?, ?)",
                    (fields["reference"], payment_id, fields["updated_at"]),
                )

    def used_references(self, since: float) -> set[int]:
        """References of open requests and of any asked since ``since`` (unix seconds)."""
        rows = self.store.query(
            "SELECT r.reference FROM dsg_references r JOIN dsg_payments p ON p.id = r.payment_id "
            "WHERE r.created_at >= ? OR p.state IN (?, ?, ?)",
            (since, *OPEN_STATES),
        )
        return {r[0] for r in rows}

    def payment_of(self, reference: int) -> dict[str, Any] | None:
        """The latest request that asked under ``reference``."""
        row = self.store.one(
            f"SELECT {', '.join('p.' + c for c in _PAYMENT_COLUMNS.split(', '))} "
            "FROM dsg_references r JOIN dsg_payments p ON p.id = r.payment_id "
            "WHERE r.reference = ? ORDER BY r.created_at DESC LIMIT 1",
            (reference,),
        )
        return _payment(row)

    def completed_seq(self, payment_id: str) -> int | None:
        """The seq of the sale a request completed, from the event the sale's own transaction
        appended (so a restart between the sale and the request's row still finds it)."""
        data = events.latest(self.store, "dsg_paid", "payment", payment_id)
        return None if data is None else int(data["seq"])

    # -- transfers ------------------------------------------------------------------------------
    def transfers(
        self,
        kinds: Iterable[str] = (),
        payment_id: str | None = None,
        limit: int = 500,
        oldest_first: bool = False,
    ) -> list[Transfer]:
        """Newest first (refunds to do are usually recent); ``oldest_first`` for the watcher's
        new transfers and a request's own, in the order they came."""
        kinds = list(kinds)
        where, args = [], []
        if kinds:
            where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
            args += kinds
        if payment_id is not None:
            where.append("payment_id = ?")
            args.append(payment_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "" if oldest_first else "DESC"
        rows = self.store.query(
            f"SELECT {_TRANSFER_COLUMNS} FROM dsg_transfers {clause} "
            f"ORDER BY block_number {order}, log_index {order} LIMIT ?",
            (*args, limit),
        )
        return [_transfer(r) for r in rows]

    def closed_with_counted(self) -> list[dict[str, Any]]:
        """Requests that ended without a sale (cancelled, expired) and still have transfers
        counted for them: their money is kept for refund once each is confirmed."""
        rows = self.store.query(
            f"SELECT {_PAYMENT_COLUMNS} FROM dsg_payments WHERE state IN ('cancelled', 'expired') "
            "AND id IN (SELECT payment_id FROM dsg_transfers WHERE kind = 'counted')"
        )
        return [_payment(r) for r in rows]  # type: ignore[misc]

    def mark_refund(self, payment_id: str, confirmed_upto: int) -> int:
        """The request's counted transfers at most ``confirmed_upto`` become ``refund``."""
        cur = self.store.execute(
            "UPDATE dsg_transfers SET kind = 'refund' WHERE payment_id = ? AND kind = 'counted' "
            "AND block_number <= ?",
            (payment_id, confirmed_upto),
        )
        return cur.rowcount

    def classify(self, t: Transfer, kind: str, payment_id: str | None) -> None:
        self.store.execute(
            "UPDATE dsg_transfers SET kind = ?, payment_id = ? WHERE tx_hash = ? AND log_index = ?",
            (kind, payment_id, t.tx_hash, t.log_index),
        )

    # -- the watcher's cursor and block hashes --------------------------------------------------
    def cursor(self, key: str) -> int | None:
        row = self.store.one("SELECT next_block FROM dsg_watch WHERE key = ?", (key,))
        return row[0] if row else None

    def recent_blocks(self, limit: int = KEEP_BLOCKS) -> list[tuple[int, str]]:
        """(number, hash) of processed blocks, newest first."""
        rows = self.store.query(
            "SELECT number, hash FROM dsg_blocks ORDER BY number DESC LIMIT ?", (limit,)
        )
        return [(r[0], r[1]) for r in rows]

    def record(
        self,
        key: str,
        next_block: int,
        blocks: Iterable[tuple[int, str]],
        transfers: Iterable[Transfer],
    ) -> int:
        """One poll's findings in one transaction: transfers, block hashes, the cursor.
        Returns how many transfers were new."""
        now = time.time()
        with self.store.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                f"INSERT OR IGNORE INTO dsg_transfers({_TRANSFER_COLUMNS}, seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 'new', ?)",
                [
                    (
                        t.tx_hash,
                        t.log_index,
                        t.block_number,
                        t.block_hash,
                        t.block_time,
                        t.sender,
                        str(t.value),
                        t.reference,
                        now,
                    )
                    for t in transfers
                ],  # fmt: skip
            )
            added = conn.total_changes - before
            conn.executemany(
                "INSERT OR REPLACE INTO dsg_blocks(number, hash) VALUES (?, ?)", list(blocks)
            )
            conn.execute(
                "DELETE FROM dsg_blocks WHERE number < "
                "(SELECT coalesce(max(number), 0) FROM dsg_blocks) - ?",
                (KEEP_BLOCKS,),
            )
            conn.execute(
                "INSERT INTO dsg_watch(key, next_block, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET next_block = excluded.next_block, "
                "updated_at = excluded.updated_at",
                (key, next_block, now),
            )
        return added

    def rewind(self, key: str, fork: int) -> list[Transfer]:
        """A reorg replaced the blocks after ``fork``: forget them and the transfers they held
        (except those a completed sale counted and confirmed ones kept for refund: both were
        deep enough to be final), and resume after ``fork``."""
        with self.store.transaction() as conn:
            rows = conn.execute(
                f"SELECT {_TRANSFER_COLUMNS} FROM dsg_transfers WHERE block_number > ? AND NOT "
                "(kind = 'refund' OR (kind = 'counted' AND payment_id IN (SELECT id FROM dsg_payments "
                "WHERE state = 'paid')))",
                (fork,),
            ).fetchall()
            conn.executemany(
                "DELETE FROM dsg_transfers WHERE tx_hash = ? AND log_index = ?",
                [(r[0], r[1]) for r in rows],
            )
            conn.execute("DELETE FROM dsg_blocks WHERE number > ?", (fork,))
            conn.execute(
                "UPDATE dsg_watch SET next_block = min(next_block, ?), updated_at = ? "
                "WHERE key = ?",
                (fork + 1, time.time(), key),
            )
        return [_transfer(r) for r in rows]


def summary(store: Store, start_ts: float, end_ts: float) -> dict[str, Any]:
    """DSG payments created in [start_ts, end_ts): counts and sums by state (wei as decimal
    strings, minor units as integers), and the late / unmatched transfers seen then."""
    out: dict[str, Any] = {"payments": {}, "transfers": {}}
    rows = store.query(
        "SELECT state, due, discount, received_wei, overpaid_wei FROM dsg_payments "
        "WHERE created_at >= ? AND created_at < ?",
        (start_ts, end_ts),
    )
    for state, due, discount, received, overpaid in rows:
        s = out["payments"].setdefault(
            state, {"count": 0, "due": 0, "discount": 0, "received_wei": 0, "overpaid_wei": 0}
        )
        s["count"] += 1
        s["due"] += due
        s["discount"] += discount
        s["received_wei"] += int(received)
        s["overpaid_wei"] += int(overpaid)
    rows = store.query(
        "SELECT kind, value FROM dsg_transfers WHERE seen_at >= ? AND seen_at < ?",
        (start_ts, end_ts),
    )
    for kind, value in rows:
        t = out["transfers"].setdefault(kind, {"count": 0, "value_wei": 0})
        t["count"] += 1
        t["value_wei"] += int(value)
    for group in (*out["payments"].values(), *out["transfers"].values()):
        for key in ("received_wei", "overpaid_wei", "value_wei"):
            if key in group:
                group[key] = str(group[key])
    return out
