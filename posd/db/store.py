"""The till's SQLite database: WAL, synchronous=FULL, versioned migrations.

One file holds the catalog, sales, their proofs (the outbox), print jobs and an append-only
event log. Several processes may open it at once (the daemon, `posd catalog import`,
`posd queue`): WAL lets readers and one writer share it, and a busy timeout serialises writers.
This module owns the connection and the schema; each table has one owner module beside it
(``sales``, ``outbox``/``batches``, ``print_jobs``, ``catalog``, ``events``, ``meta``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from posd.db import events

MIGRATIONS: list[str] = [
    # 1: the till core
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE products (
        barcode TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
        tax_rate TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE sales (
        seq INTEGER PRIMARY KEY,
        till TEXT NOT NULL,
        started_at REAL NOT NULL,
        completed_at REAL NOT NULL,
        currency TEXT NOT NULL,
        total INTEGER NOT NULL,
        paid INTEGER NOT NULL,
        change INTEGER NOT NULL,
        refunded INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE sale_lines (
        seq INTEGER NOT NULL REFERENCES sales(seq),
        line_no INTEGER NOT NULL,
        barcode TEXT NOT NULL,
        name TEXT NOT NULL,
        qty TEXT NOT NULL,
        unit_price INTEGER NOT NULL,
        total INTEGER NOT NULL,
        tax_rate TEXT NOT NULL,
        PRIMARY KEY (seq, line_no)
    );
    CREATE TABLE payments (
        seq INTEGER NOT NULL REFERENCES sales(seq),
        idx INTEGER NOT NULL,
        tender TEXT NOT NULL,
        amount INTEGER NOT NULL,
        reference TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (seq, idx)
    );
    CREATE TABLE proofs (
        seq INTEGER PRIMARY KEY REFERENCES sales(seq),
        till TEXT NOT NULL,
        amount INTEGER NOT NULL,
        time INTEGER NOT NULL,
        claim_address TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        batch_id INTEGER,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX proofs_state ON proofs(state, seq);
    CREATE TABLE print_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL REFERENCES sales(seq),
        copy INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'queued',
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        next_try REAL NOT NULL,
        printed_at REAL
    );
    CREATE INDEX print_jobs_state ON print_jobs(state, next_try);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    """,
    # 2: the flusher's batches and every transaction it signed (posd/chain/flush, posd/db/outbox.py)
    """
    CREATE TABLE batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        till TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        count INTEGER NOT NULL,
        root TEXT NOT NULL,
        state TEXT NOT NULL,
        nonce INTEGER,
        gas INTEGER,
        max_fee INTEGER,
        priority_fee INTEGER,
        raw_tx TEXT,
        tx_hashes TEXT NOT NULL DEFAULT '[]',
        sent_at REAL,
        tx_hash TEXT,
        block_number INTEGER,
        block_hash TEXT,
        batch_index INTEGER,
        gas_used INTEGER,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX batches_state ON batches(state, nonce);
    CREATE INDEX batches_first ON batches(first_seq);
    CREATE TABLE tx_attempts (
        tx_hash TEXT PRIMARY KEY,
        batch_id INTEGER NOT NULL REFERENCES batches(id),
        nonce INTEGER NOT NULL,
        max_fee INTEGER NOT NULL,
        priority_fee INTEGER NOT NULL,
        raw_tx TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX tx_attempts_nonce ON tx_attempts(nonce);
    CREATE INDEX proofs_batch ON proofs(batch_id);
    """,
    # 3: paired pages (DESIGN §7, posd/db/sessions.py): hashes only, never a raw code or token
    """
    CREATE TABLE pair_codes (
        code_hash TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 4: the claim seed each sale was made under, and filler records (DESIGN §2, posd/db/sales.py):
    # rows from before were all made under the key file's first seed
    """
    ALTER TABLE sales ADD COLUMN seed_id INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE sales ADD COLUMN kind TEXT NOT NULL DEFAULT 'sale';
    """,
    # 5: DSG payments (DESIGN §10, posd/db/payments.py): requests with their cart, the references
    # each asked under, the transfers the watcher saw, its cursor and recent block hashes
    """
    CREATE TABLE dsg_payments (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        owner TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at INTEGER NOT NULL,
        token TEXT NOT NULL,
        chain_id INTEGER NOT NULL,
        payout TEXT NOT NULL,
        till_slot INTEGER NOT NULL,
        currency TEXT NOT NULL,
        due INTEGER NOT NULL,
        discount INTEGER NOT NULL,
        rate TEXT NOT NULL,
        request_wei TEXT NOT NULL,
        required_wei TEXT NOT NULL,
        amount_wei TEXT NOT NULL,
        reference INTEGER NOT NULL,
        received_wei TEXT NOT NULL DEFAULT '0',
        overpaid_wei TEXT NOT NULL DEFAULT '0',
        seq INTEGER,
        cart TEXT NOT NULL,
        closed_at REAL
    );
    CREATE INDEX dsg_payments_state ON dsg_payments(state, created_at);
    CREATE TABLE dsg_references (
        reference INTEGER NOT NULL,
        payment_id TEXT NOT NULL REFERENCES dsg_payments(id),
        created_at REAL NOT NULL,
        PRIMARY KEY (reference, payment_id)
    );
    CREATE INDEX dsg_references_time ON dsg_references(created_at);
    CREATE TABLE dsg_transfers (
        tx_hash TEXT NOT NULL,
        log_index INTEGER NOT NULL,
        block_number INTEGER NOT NULL,
        block_hash TEXT NOT NULL,
        block_time INTEGER NOT NULL,
        sender TEXT NOT NULL,
        value TEXT NOT NULL,
        reference INTEGER NOT NULL,
        payment_id TEXT,
        kind TEXT NOT NULL DEFAULT 'new',
        seen_at REAL NOT NULL,
        PRIMARY KEY (tx_hash, log_index)
    );
    CREATE INDEX dsg_transfers_payment ON dsg_transfers(payment_id, kind);
    CREATE INDEX dsg_transfers_kind ON dsg_transfers(kind, block_number);
    CREATE TABLE dsg_watch (key TEXT PRIMARY KEY, next_block INTEGER NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE dsg_blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL);
    """,
    # 6: membership at the till (DESIGN §11, posd/db/members.py): the tier cache, used passes
    # (by hash: never the signature), and an index to find a sale's member discount in the log
    """
    CREATE TABLE member_tiers (
        staking TEXT NOT NULL,
        member TEXT NOT NULL,
        tier INTEGER NOT NULL,
        read_at REAL NOT NULL,
        PRIMARY KEY (staking, member)
    );
    CREATE TABLE member_passes (
        pass_id TEXT PRIMARY KEY,
        member TEXT NOT NULL,
        valid_until INTEGER NOT NULL,
        used_at REAL NOT NULL
    );
    CREATE INDEX member_passes_expiry ON member_passes(valid_until);
    CREATE INDEX events_member_seq ON events(json_extract(data, '$.seq'))
        WHERE kind = 'member_discount';
    """,
    # 7: shop operations (DESIGN §12): sales rung up on the shop's own POS
    # (posd/db/external_sales.py), written in the sale's own transaction: the POS's id, a hash
    # of its request, the sale's seq
    """
    CREATE TABLE external_sales (
        external_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE REFERENCES sales(seq),
        body_hash TEXT NOT NULL,
        print INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    """,
]


class Store:
    """A connection to the till database. Thread-safe: one lock serialises this process's use."""

    def __init__(
        self,
        path: Path | str,
        *,
        check_same_thread: bool = False,
        migrations: list[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.migrations = MIGRATIONS if migrations is None else migrations  # the gateway's own
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=check_same_thread
        )
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.db = sqlite_utils.Database(self.conn)
        self.lock = threading.RLock()
        self.migrate()

    # -- schema ---------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Apply each migration once, in order, each in its own transaction."""
        with self.lock:
            for number, script in enumerate(self.migrations, start=1):
                if self.version >= number:
                    continue
                with self.transaction():
                    if self.version >= number:  # another process got there first
                        continue
                    for statement in _statements(script):
                        self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version={number}")

    # -- transactions ---------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT: all or nothing, and the writer lock is taken up front."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        """One statement in autocommit mode (its own transaction)."""
        with self.lock:
            return self.conn.execute(sql, params)

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        with self.lock:
            return self.conn.execute(sql, params).fetchone()

    # -- events (SQL in posd.db.events) ---------------------------------------------------------
    def log_event(
        self, kind: str, data: dict[str, Any] | None = None, conn: sqlite3.Connection | None = None
    ) -> None:
        """Append to the event log (in the caller's transaction when ``conn`` is given)."""
        if conn is not None:
            events.append(conn, kind, data)
        else:
            with self.lock:
                events.append(self.conn, kind, data)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
