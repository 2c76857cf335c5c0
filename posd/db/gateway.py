"""The claim gateway's own SQLite database (DESIGN §9): never the till's.

Three tables, each owned here: ``gw_batches`` (the persisted index of ``BatchCommitted`` events,
with each batch's records once read from its commit transaction), ``gw_claimed`` (``Claimed``
events seen by the index: who got a receipt's DSG) and ``gw_claims`` + ``gw_attempts`` (every claim
the gateway accepted and every transaction it signed for one, written before the answer and
before the broadcast, so a restart re-sends instead of losing or repeating). ``gw_meta`` keeps
the index's progress.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posd.db.store import Store

MIGRATIONS: list[str] = [
    # 1: index, claims, attempts
    """
    CREATE TABLE gw_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE gw_batches (
        till TEXT NOT NULL,
        batch_index INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        count INTEGER NOT NULL,
        root TEXT NOT NULL,
        tx_hash TEXT NOT NULL,
        block_number INTEGER NOT NULL,
        records BLOB,
        PRIMARY KEY (till, batch_index)
    );
    CREATE INDEX gw_batches_seq ON gw_batches(till, first_seq);
    CREATE INDEX gw_batches_block ON gw_batches(block_number);
    CREATE TABLE gw_claimed (
        till TEXT NOT NULL,
        seq INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        reward TEXT NOT NULL,
        tx_hash TEXT NOT NULL,
        block_number INTEGER NOT NULL,
        PRIMARY KEY (till, seq)
    );
    CREATE INDEX gw_claimed_block ON gw_claimed(block_number);
    CREATE TABLE gw_claims (
        till TEXT NOT NULL,
        seq INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        reward TEXT NOT NULL,
        store_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        state TEXT NOT NULL,
        nonce INTEGER NOT NULL,
        gas INTEGER NOT NULL,
        max_fee INTEGER NOT NULL,
        priority_fee INTEGER NOT NULL,
        tx_hash TEXT NOT NULL,
        raw_tx BLOB NOT NULL,
        data BLOB NOT NULL,
        cost_wei TEXT NOT NULL,
        gas_used INTEGER,
        block_number INTEGER,
        client TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        sent_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (till, seq)
    );
    CREATE INDEX gw_claims_state ON gw_claims(state, nonce);
    CREATE INDEX gw_claims_budget ON gw_claims(store_id, day);
    CREATE TABLE gw_attempts (
        tx_hash TEXT PRIMARY KEY,
        till TEXT NOT NULL,
        seq INTEGER NOT NULL,
        nonce INTEGER NOT NULL,
        kind TEXT NOT NULL DEFAULT 'claim',
        created_at REAL NOT NULL
    );
    CREATE INDEX gw_attempts_claim ON gw_attempts(till, seq);
    """,
    # 2: the store each batch was committed under (from TillAdded events: a till may move
    # stores), claims that failed on chain and were tried again (their gas stays in the
    # store's budget); the index starts over once to learn the stores of known batches
    """
    ALTER TABLE gw_batches ADD COLUMN store_id TEXT;
    CREATE TABLE gw_till_events (
        till TEXT NOT NULL,
        store_id TEXT NOT NULL,
        block_number INTEGER NOT NULL,
        log_index INTEGER NOT NULL,
        PRIMARY KEY (till, block_number, log_index)
    );
    CREATE INDEX gw_till_events_block ON gw_till_events(block_number);
    CREATE TABLE gw_retired (
        till TEXT NOT NULL,
        seq INTEGER NOT NULL,
        store_id TEXT NOT NULL,
        day INTEGER NOT NULL,
        state TEXT NOT NULL,
        nonce INTEGER NOT NULL,
        tx_hash TEXT NOT NULL,
        cost_wei TEXT NOT NULL,
        retired_at REAL NOT NULL
    );
    CREATE INDEX gw_retired_budget ON gw_retired(store_id, day);
    DELETE FROM gw_meta WHERE key IN ('index_block', 'index_block_hash');
    """,
]

# claim states: sent (on its way; bumped while stuck), mined, failed (mined but reverted: a
# new request may try again), dropping/dropped (someone else claimed first: the nonce is being /
# was filled with a cancel transaction)


@dataclass(frozen=True)
class ClaimedEvent:
    """A ``Claimed`` event the index saw: who got the DSG, how many were minted, in which tx."""

    recipient: str
    reward: int
    tx_hash: str


@dataclass(frozen=True)
class IndexedBatch:
    till: str
    batch_index: int
    first_seq: int
    count: int
    root: bytes
    tx_hash: str
    block_number: int
    records: bytes | None
    store_id: str | None = None  # the till's store when the batch was committed (None: unknown)


@dataclass(frozen=True)
class ClaimRow:
    till: str
    seq: int
    recipient: str
    reward: int
    store_id: str
    state: str
    nonce: int
    gas: int
    max_fee: int
    priority_fee: int
    tx_hash: str
    raw_tx: bytes
    data: bytes
    cost_wei: int
    gas_used: int | None
    sent_at: float
    created_at: float


def _batch(row: sqlite3.Row) -> IndexedBatch:
    return IndexedBatch(
        till=row["till"],
        batch_index=row["batch_index"],
        first_seq=row["first_seq"],
        count=row["count"],
        root=bytes.fromhex(row["root"][2:]),
        tx_hash=row["tx_hash"],
        block_number=row["block_number"],
        records=None if row["records"] is None else bytes(row["records"]),
        store_id=row["store_id"],
    )


def _claim(row: sqlite3.Row) -> ClaimRow:
    return ClaimRow(
        till=row["till"],
        seq=row["seq"],
        recipient=row["recipient"],
        reward=int(row["reward"]),
        store_id=row["store_id"],
        state=row["state"],
        nonce=row["nonce"],
        gas=row["gas"],
        max_fee=row["max_fee"],
        priority_fee=row["priority_fee"],
        tx_hash=row["tx_hash"],
        raw_tx=bytes(row["raw_tx"]),
        data=bytes(row["data"]),
        cost_wei=int(row["cost_wei"]),
        gas_used=row["gas_used"],
        sent_at=row["sent_at"],
        created_at=row["created_at"],
    )


class GatewayDb:
    """The gateway's database: its own file, its own migrations."""

    def __init__(self, path: Path | str) -> None:
        self.store = Store(path, migrations=MIGRATIONS)

    def close(self) -> None:
        self.store.close()

    # -- meta -----------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        row = self.store.one("SELECT value FROM gw_meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def put(self, key: str, value: Any, conn: sqlite3.Connection | None = None) -> None:
        sql = "INSERT OR REPLACE INTO gw_meta (key, value) VALUES (?, ?)"
        if conn is not None:
            conn.execute(sql, (key, str(value)))
        else:
            self.store.execute(sql, (key, str(value)))

    # -- the index ------------------------------------------------------------------------------
    def add_events(
        self,
        batches: list[dict[str, Any]],
        claimed: list[dict[str, Any]],
        last_block: int,
        cursor_key: str,
        till_events: list[dict[str, Any]] | None = None,
    ) -> None:
        """Events of one log range and the block the index reached, in one transaction. Each
        batch gets the store of the till's last ``TillAdded`` before it (None if unseen)."""
        with self.store.transaction() as conn:
            for t in till_events or []:
                conn.execute(
                    "INSERT OR REPLACE INTO gw_till_events (till, store_id, block_number, "
                    "log_index) VALUES (?, ?, ?, ?)",
                    (t["till"], t["store_id"], t["block_number"], t["log_index"]),
                )
            for b in batches:
                store = conn.execute(
                    "SELECT store_id FROM gw_till_events WHERE till = ? AND (block_number < ? "
                    "OR (block_number = ? AND log_index < ?)) "
                    "ORDER BY block_number DESC, log_index DESC LIMIT 1",
                    (b["till"], b["block_number"], b["block_number"], b.get("log_index", 0)),
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO gw_batches (till, batch_index, first_seq, count, "
                    "root, tx_hash, block_number, records, store_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                    (
                        b["till"],
                        b["batch_index"],
                        b["first_seq"],
                        b["count"],
                        "0x" + bytes(b["root"]).hex(),
                        b["tx_hash"],
                        b["block_number"],
                        None if store is None else store[0],
                    ),
                )
            for c in claimed:
                conn.execute(
                    "INSERT OR REPLACE INTO gw_claimed (till, seq, recipient, reward, tx_hash, "
                    "block_number) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        c["till"],
                        c["seq"],
                        c["recipient"],
                        str(c["reward"]),
                        c["tx_hash"],
                        c["block_number"],
                    ),
                )
            self.put(cursor_key, last_block, conn)

    def forget_from(self, block: int, cursor_key: str) -> None:
        """A reorg: drop what was indexed from ``block`` on and index it again."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM gw_batches WHERE block_number >= ?", (block,))
            conn.execute("DELETE FROM gw_claimed WHERE block_number >= ?", (block,))
            conn.execute("DELETE FROM gw_till_events WHERE block_number >= ?", (block,))
            self.put(cursor_key, block - 1, conn)

    def batch_holding(self, till: str, seq: int) -> IndexedBatch | None:
        row = self.store.one(
            "SELECT * FROM gw_batches WHERE till = ? AND first_seq <= ? "
            "ORDER BY first_seq DESC LIMIT 1",
            (till, seq),
        )
        if row is None or seq >= row["first_seq"] + row["count"]:
            return None
        return _batch(row)

    def batch(self, till: str, batch_index: int) -> IndexedBatch | None:
        row = self.store.one(
            "SELECT * FROM gw_batches WHERE till = ? AND batch_index = ?", (till, batch_index)
        )
        return None if row is None else _batch(row)

    def next_seq(self, till: str) -> int:
        """The till's next seq as far as the index knows (1 for a till it never saw commit)."""
        row = self.store.one(
            "SELECT max(first_seq + count) FROM gw_batches WHERE till = ?", (till,)
        )
        return 1 if row is None or row[0] is None else int(row[0])

    def set_records(self, till: str, batch_index: int, records: bytes) -> None:
        self.store.execute(
            "UPDATE gw_batches SET records = ? WHERE till = ? AND batch_index = ?",
            (records, till, batch_index),
        )

    def batch_count(self) -> int:
        return int(self.store.one("SELECT count(*) FROM gw_batches")[0])

    def claimed_by(self, till: str, seq: int) -> ClaimedEvent | None:
        row = self.store.one(
            "SELECT recipient, reward, tx_hash FROM gw_claimed WHERE till = ? AND seq = ?",
            (till, seq),
        )
        return None if row is None else ClaimedEvent(row[0], int(row[1]), row[2])

    # -- claims ---------------------------------------------------------------------------------
    def claim(self, till: str, seq: int) -> ClaimRow | None:
        row = self.store.one("SELECT * FROM gw_claims WHERE till = ? AND seq = ?", (till, seq))
        return None if row is None else _claim(row)

    def max_nonce(self) -> int | None:
        row = self.store.one("SELECT max(nonce) FROM gw_claims")
        return None if row is None or row[0] is None else int(row[0])

    def insert_claim(self, c: ClaimRow, day: int, client: str) -> None:
        """The accepted claim and its first signed transaction, before it is broadcast. A claim
        that failed on chain before is retired first (its gas stays in the store's budget)."""
        now = time.time()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO gw_retired (till, seq, store_id, day, state, nonce, tx_hash, "
                "cost_wei, retired_at) SELECT till, seq, store_id, day, state, nonce, tx_hash, "
                "cost_wei, ? FROM gw_claims WHERE till = ? AND seq = ? AND state = 'failed'",
                (now, c.till, c.seq),
            )
            conn.execute(
                "DELETE FROM gw_claims WHERE till = ? AND seq = ? AND state = 'failed'",
                (c.till, c.seq),
            )
            conn.execute(
                "INSERT INTO gw_claims (till, seq, recipient, reward, store_id, day, state, "
                "nonce, gas, max_fee, priority_fee, tx_hash, raw_tx, data, cost_wei, client, "
                "created_at, sent_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    c.till,
                    c.seq,
                    c.recipient,
                    str(c.reward),
                    c.store_id,
                    day,
                    c.state,
                    c.nonce,
                    c.gas,
                    c.max_fee,
                    c.priority_fee,
                    c.tx_hash,
                    c.raw_tx,
                    c.data,
                    str(c.cost_wei),
                    client,
                    now,
                    now,
                    now,
                ),
            )
            _attempt(conn, c.tx_hash, c.till, c.seq, c.nonce, "claim", now)

    def replace_tx(
        self,
        till: str,
        seq: int,
        tx_hash: str,
        raw_tx: bytes,
        max_fee: int,
        priority_fee: int,
        state: str,
        kind: str,
        cost_wei: int,
        nonce: int | None = None,
    ) -> None:
        """A new transaction for the claim: a fee bump or a cancel of a front-run claim under the
        same nonce; or, given ``nonce``, the claim signed again under a fresh one because another
        transaction of the relayer key took its own (the old attempts stay, under the old nonce)."""
        now = time.time()
        with self.store.transaction() as conn:
            if nonce is None:
                nonce = conn.execute(
                    "SELECT nonce FROM gw_claims WHERE till = ? AND seq = ?", (till, seq)
                ).fetchone()[0]
            conn.execute(
                "UPDATE gw_claims SET nonce = ?, tx_hash = ?, raw_tx = ?, max_fee = ?, "
                "priority_fee = ?, state = ?, cost_wei = ?, sent_at = ?, updated_at = ? "
                "WHERE till = ? AND seq = ?",
                (
                    nonce,
                    tx_hash,
                    raw_tx,
                    max_fee,
                    priority_fee,
                    state,
                    str(cost_wei),
                    now,
                    now,
                    till,
                    seq,
                ),
            )
            _attempt(conn, tx_hash, till, seq, nonce, kind, now)

    def finish(
        self,
        till: str,
        seq: int,
        state: str,
        gas_used: int,
        block: int | None,
        cost_wei: int,
        tx_hash: str | None = None,
        reward: int | None = None,
    ) -> None:
        """The claim's end: the transaction that made it into a block (and the reward its
        ``Claimed`` event minted, when it has one)."""
        self.store.execute(
            "UPDATE gw_claims SET state = ?, gas_used = ?, block_number = ?, cost_wei = ?, "
            "tx_hash = coalesce(?, tx_hash), reward = coalesce(?, reward), updated_at = ? "
            "WHERE till = ? AND seq = ?",
            (
                state,
                gas_used,
                block,
                str(cost_wei),
                tx_hash,
                None if reward is None else str(reward),
                time.time(),
                till,
                seq,
            ),
        )

    def open_claims(self) -> list[ClaimRow]:
        """Claims whose transaction has not been seen in a block yet (dropped ones too: their
        cancel transaction still holds the nonce)."""
        rows = self.store.query(
            "SELECT * FROM gw_claims WHERE state IN ('sent', 'dropping') ORDER BY nonce"
        )
        return [_claim(r) for r in rows]

    def attempt_hashes(self, till: str, seq: int, nonce: int) -> list[str]:
        """The transactions signed for the claim under its current nonce (those under an older
        nonce — a failed try, a nonce another transaction took — can no longer be mined)."""
        rows = self.store.query(
            "SELECT tx_hash FROM gw_attempts WHERE till = ? AND seq = ? AND nonce = ? "
            "ORDER BY created_at",
            (till, seq, nonce),
        )
        return [r[0] for r in rows]

    def spent(self, store_id: str, day: int) -> int:
        """Gas (wei) reserved or paid for the store's claims on ``day``, retried ones too."""
        row = self.store.one(
            "SELECT (SELECT total(CAST(cost_wei AS REAL)) FROM gw_claims "
            "WHERE store_id = ? AND day = ?) + (SELECT total(CAST(cost_wei AS REAL)) "
            "FROM gw_retired WHERE store_id = ? AND day = ?)",
            (store_id, day, store_id, day),
        )
        return int(row[0]) if row is not None else 0


def _attempt(
    conn: sqlite3.Connection, tx_hash: str, till: str, seq: int, nonce: int, kind: str, now: float
) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO gw_attempts (tx_hash, till, seq, nonce, kind, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (tx_hash, till, seq, nonce, kind, now),
    )
