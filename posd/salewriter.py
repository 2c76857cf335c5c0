"""Writes completed sales to SQLite: each in ONE transaction with its proof — group-committed.

A sale is durable (WAL, synchronous=FULL) before anyone is told it is complete. While one
commit waits for the disk, the next sales queue up and go into the next transaction together,
so the fsync — the real cost of a durable sale — is shared when sales come fast, and the
register can take the next basket meanwhile. The writer has its own connection: a scan's
catalog lookup never waits behind an fsync.

No gap can ever be written: each transaction checks that its first seq is the database's
``next_seq``; when a transaction fails, every sale queued behind it fails too and the register
takes its seq counter from the database again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posd.outbox import Outbox
from posd.store import Store

log = logging.getLogger("posd.salewriter")
MAX_GROUP = 256


class SeqConflict(RuntimeError):
    """The database's next_seq is not the seq this sale was given (a failed sale before it)."""


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


class SaleWriter:
    def __init__(self, db_path: Path, on_failure: Callable[[], None]) -> None:
        self.db_path = db_path
        self.on_failure = on_failure
        self._queue: queue.SimpleQueue[tuple[SaleRecord, Future] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._start_lock = threading.Lock()

    def submit(self, record: SaleRecord) -> Future:
        """Queue a sale (call in seq order); the future resolves once it is on disk."""
        future: Future = Future()
        with self._start_lock:
            if self._thread is None:
                self._store = Store(self.db_path)
                self._thread = threading.Thread(target=self._run, name="sale-writer", daemon=True)
                self._thread.start()
        self._queue.put((record, future))
        return future

    def close(self) -> None:
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)
            self._store.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._write(group)
                    return
                group.append(nxt)
            self._write(group)

    def _write(self, group: list[tuple[SaleRecord, Future]]) -> None:
        try:
            write_sales(self._store, [record for record, _ in group])
        except BaseException as exc:  # noqa: BLE001 - every waiting caller must hear of it
            if len(group) > 1:  # keep the sales before the one that fails
                self._write_one_by_one(group)
                return
            self._fail(group, exc)
            return
        for _, future in group:
            future.set_result(None)

    def _write_one_by_one(self, group: list[tuple[SaleRecord, Future]]) -> None:
        for i, (record, future) in enumerate(group):
            try:
                write_sales(self._store, [record])
            except BaseException as exc:  # noqa: BLE001
                self._fail(group[i:], exc)  # those after it would leave a gap
                return
            future.set_result(None)

    def _fail(self, group: list[tuple[SaleRecord, Future]], exc: BaseException) -> None:
        log.error("writing sales %s..%s failed: %s", group[0][0].seq, group[-1][0].seq, exc)
        self.on_failure()
        for _, future in group:
            future.set_exception(exc)


def write_sales(store: Store, records: list[SaleRecord]) -> None:
    """One transaction for consecutive sales: rows, proofs, print jobs, next_seq, last_time."""
    first, last = records[0], records[-1]
    now = time.time()
    with store.transaction() as conn:
        moved = conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'next_seq' AND value = ?",
            (str(last.seq + 1), str(first.seq)),
        ).rowcount
        if moved != 1:
            raise SeqConflict(f"sale {first.seq} is not the database's next seq")
        conn.executemany(
            "INSERT INTO sales(seq, till, started_at, completed_at, currency, total, paid, change) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.seq, r.till, r.started_at, now, r.currency, r.total, r.paid, r.change)
                for r in records
            ],
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
        for r in records:
            Outbox.enqueue(conn, r.seq, r.till, r.total, r.time, r.claim_address)
        conn.executemany(
            "INSERT INTO print_jobs(seq, copy, created_at, next_try) VALUES (?, 0, ?, 0)",
            [(r.seq, now) for r in records],
        )
        store.set_meta("last_time", last.time, conn)
        for r in records:
            for kind, data in r.events:
                store.log_event(kind, {"seq": r.seq, **data}, conn=conn)
