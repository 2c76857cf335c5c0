"""Print jobs: a receipt is queued in the sale's transaction and printed from here, with retries.

A print that fails (printer off, paper out, timeout) never loses the sale: the job stays queued
and is retried with backoff. A job whose receipt cannot be built or rendered (data no printer
could print, e.g. an amount the QR cannot carry) is the job's fault, not the printer's: it is
marked ``failed`` with its error, announced, and the next job prints — one bad job never
stalls the queue. The claim key is derived again for every print and never stored.
The spooler gets only what it needs: the store, the printer, a receipt builder and the event
bus's ``publish``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.printers.common import PrinterError
from drivers.printers.escpos import PrinterDriver
from posd.db.outbox import UnknownSale
from posd.db.print_jobs import PrintJobs
from posd.db.store import Store
from posd.receipt.builder import ReceiptBuilder, known_chain_id
from posd.receipt.layout import Receipt

__all__ = ["ReceiptBuilder", "Spooler", "known_chain_id"]
log = logging.getLogger("posd.receipt.spooler")
MAX_BACKOFF_S = 60.0
Publish = Callable[[str, dict[str, Any]], object]


class Spooler:
    """One thread that prints queued jobs in order and retries failed ones with backoff."""

    def __init__(
        self,
        store: Store,
        printer: PrinterDriver | None,
        receipts: Callable[[], ReceiptBuilder],
        publish: Publish,
    ) -> None:
        self.store = store
        self.jobs = PrintJobs(store)
        self.printer = printer
        self.receipts = receipts
        self.publish = publish
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def builder(self) -> ReceiptBuilder:
        return self.receipts()

    # -- queue ----------------------------------------------------------------------------------
    def reprint(self, seq: int) -> int:
        job = self.jobs.add_copy(seq)
        if job is None:
            raise UnknownSale(f"no sale with seq {seq}")
        self.wake()
        return job

    def queued(self) -> int:
        return self.jobs.queued()

    def status(self) -> dict[str, Any]:
        return {
            "printer": self.printer.describe() if self.printer else None,
            "queued": self.queued(),
            "failed": self.jobs.failed_count(),
            "last_error": self.jobs.last_error(),
        }

    # -- worker ---------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spooler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.run_due()
            except Exception:  # noqa: BLE001 - the spooler must outlive any one bad job
                log.exception("print spooler error")
                delay = 5.0
            self._wake.wait(delay)
            self._wake.clear()

    def run_due(self) -> float:
        """Print every job that is due; returns how long to sleep until the next one."""
        if self.printer is None:
            return 30.0
        while not self._stop.is_set():
            job = self.jobs.next_due(time.time())
            if job is None:
                break
            self.print_one(job.id, job.seq, job.copy, job.attempts)
        nxt = self.jobs.next_try()
        return max(0.05, min(30.0, nxt - time.time())) if nxt else 30.0

    def print_one(self, job_id: int, seq: int, copy: int, attempts: int) -> bool:
        try:
            receipt = self.builder().build(seq, bool(copy))
            self._dry_render(receipt)
        except sqlite3.OperationalError as exc:  # a busy database: try again later
            self._retry(job_id, seq, attempts, f"database: {exc}")
            return False
        except Exception as exc:  # noqa: BLE001 - whatever the cause, this job can never print
            error = f"receipt {seq} cannot be built: {type(exc).__name__}: {exc}"
            log.error("print job %s failed for good: %s", job_id, error)
            self.jobs.give_up(job_id, error)
            self.publish(
                "print_failed", {"seq": seq, "job": job_id, "error": error, "permanent": True}
            )
            return False
        name = f"{seq}-copy{job_id}" if copy else str(seq)
        from posd.receipt.escpos import print_escpos  # python-escpos: loaded at the first print

        try:
            written = self.printer.print_job(lambda p: print_escpos(receipt, p), job=name)
        except PrinterError as exc:
            self._retry(job_id, seq, attempts, exc.message)
            return False
        if written is not None and hasattr(self.printer, "save_preview"):
            try:
                from posd.receipt.png import render_png  # PIL: only for a preview

                self.printer.save_preview(Path(written), render_png(receipt))
            except Exception:  # noqa: BLE001 - the receipt printed: a preview never reprints it
                log.exception("receipt %s: preview failed", seq)
        self.jobs.printed(job_id)
        self.publish("printed", {"seq": seq, "job": job_id, "copy": bool(copy)})
        return True

    def _retry(self, job_id: int, seq: int, attempts: int, error: str) -> None:
        backoff = min(MAX_BACKOFF_S, 2.0 ** min(attempts, 6))
        self.jobs.failed(job_id, error, time.time() + backoff)
        self.publish("print_failed", {"seq": seq, "job": job_id, "error": error})

    def _dry_render(self, receipt: Receipt) -> None:
        """Render into memory first: inside ``print_job`` every error looks like the printer's
        (and would be retried forever), here it is plainly the receipt's."""
        from escpos.printer import Dummy

        from posd.receipt.escpos import print_escpos

        profile = getattr(self.printer, "entry", {}).get("profile") or None
        print_escpos(receipt, Dummy(profile=profile) if profile else Dummy())
