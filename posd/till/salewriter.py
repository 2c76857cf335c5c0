"""Writes completed sales to SQLite: each in ONE transaction with its proof — group-committed.

A sale is durable (WAL, synchronous=FULL) before anyone is told it is complete. While one
commit waits for the disk, the next sales queue up and go into the next transaction together,
so the fsync — the real cost of a durable sale — is shared when sales come fast, and the
register can take the next basket meanwhile. The writer has its own connection: a scan's
catalog lookup never waits behind an fsync.

Each group first advances the high-water mark beside the key file (:mod:`posd.till.seqmark`)
past its last seq, and only then COMMITs: after a power cut the mark is ≥ every committed seq, so
a database restored from an older backup is recognised at the next start (DESIGN §2). That is
one more atomic file write (two fsyncs) per group, shared by the group's sales like the COMMIT.

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
from pathlib import Path

from posd.db import events, meta
from posd.db.external_sales import ExternalSales
from posd.db.meta import Meta
from posd.db.outbox import Outbox
from posd.db.print_jobs import PrintJobs
from posd.db.sales import SaleRecord, Sales
from posd.db.store import Store
from posd.errors import Internal
from posd.till.seqmark import SeqMark

log = logging.getLogger("posd.till.salewriter")
MAX_GROUP = 256
__all__ = ["MAX_GROUP", "SaleRecord", "SaleWriter", "SeqConflict", "write_sales"]


class SeqConflict(Internal, RuntimeError):
    """The database's next_seq is not the seq this sale was given (a failed sale before it)."""

    code = "seq_conflict"


class SaleWriter:
    def __init__(
        self, db_path: Path, on_failure: Callable[[], None], mark: SeqMark | None = None
    ) -> None:
        self.db_path = db_path
        self.on_failure = on_failure
        self.mark = mark
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
            write_sales(self._store, [record for record, _ in group], self.mark)
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
                write_sales(self._store, [record], self.mark)
            except BaseException as exc:  # noqa: BLE001
                self._fail(group[i:], exc)  # those after it would leave a gap
                return
            future.set_result(None)

    def _fail(self, group: list[tuple[SaleRecord, Future]], exc: BaseException) -> None:
        log.error("writing sales %s..%s failed: %s", group[0][0].seq, group[-1][0].seq, exc)
        self.on_failure()
        for _, future in group:
            future.set_exception(exc)


def write_sales(store: Store, records: list[SaleRecord], mark: SeqMark | None = None) -> None:
    """One transaction for consecutive sales: rows, proofs, print jobs, next_seq, last_time;
    the high-water ``mark`` is advanced past the last seq before the COMMIT."""
    first, last = records[0], records[-1]
    now = time.time()
    with store.transaction() as conn:
        if not Meta.compare_and_set(conn, meta.NEXT_SEQ, first.seq, last.seq + 1):
            raise SeqConflict(f"sale {first.seq} is not the database's next seq")
        Sales.insert(conn, records, now)
        Outbox.enqueue_many(
            conn, [(r.seq, r.till, r.total, r.time, r.claim_address) for r in records]
        )
        PrintJobs.enqueue_first(conn, [r.seq for r in records if r.print_receipt], now)
        ExternalSales.insert(conn, records, now)  # the POS's ids of sales from its POS (§12)
        Meta(store).set(meta.LAST_TIME, last.time, conn)
        events.append_many(
            conn, [(kind, {"seq": r.seq, **data}) for r in records for kind, data in r.events]
        )
        if mark is not None:
            mark.advance(last.seq + 1)  # before the COMMIT: H ≥ every committed seq
