"""Print jobs: a receipt is queued in the sale's transaction and printed from here, with retries.

A print that fails (printer off, paper out, timeout) never loses the sale: the job stays queued
and is retried with backoff. The claim key is derived again for every print and never stored.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.printer import PrinterDriver, PrinterError
from posd import keys as keyfile
from posd.claimcode import ClaimPayload, claim_key
from posd.config import Config
from posd.outbox import UnknownSale
from posd.receipt import Receipt, ReceiptLine, Tender, print_escpos, render_png
from posd.store import Store

if TYPE_CHECKING:
    from PIL.Image import Image

    from posd.daemon import Daemon

log = logging.getLogger("posd.spooler")
MAX_BACKOFF_S = 60.0


@dataclass
class ReceiptBuilder:
    """Turns a stored sale into a Receipt (the claim URL derived afresh from the key file)."""

    config: Config
    store: Store
    keys: keyfile.TillKeys
    chain_id: int = 0

    @classmethod
    def open(cls, config: Config) -> ReceiptBuilder:
        """For commands outside the daemon (`posd receipt`): same database, same key file."""
        passphrase = keyfile.read_passphrase(
            config.till.passphrase_file, config.till.passphrase_env
        )
        keys = keyfile.load(config.key_file, passphrase)
        store = Store(config.db_path)
        return cls(config, store, keys, known_chain_id(config, store) or 0)

    def build(self, seq: int, copy: bool = False) -> Receipt:
        sale = self.store.one(
            "SELECT s.till, s.currency, s.total, s.change, s.refunded, p.amount, p.time "
            "FROM sales s JOIN proofs p USING (seq) WHERE seq = ?",
            (seq,),
        )
        if sale is None:
            raise UnknownSale(f"no sale with seq {seq}")
        till, currency, total, change, refunded, amount, at = sale
        lines = [
            ReceiptLine(r[0], Decimal(r[1]), r[2], r[3], Decimal(r[4]))
            for r in self.store.query(
                "SELECT name, qty, unit_price, total, tax_rate FROM sale_lines WHERE seq = ? ORDER BY line_no",
                (seq,),
            )
        ]
        tenders = [
            Tender(r[0], r[1], r[2])
            for r in self.store.query(
                "SELECT tender, amount, reference FROM payments WHERE seq = ? ORDER BY idx", (seq,)
            )
        ]
        c, s = self.config, self.config.store
        return Receipt(
            store_name=s.name,
            store_address=s.address,
            tax_id=s.tax_id,
            currency=currency,
            till_name=c.till.name,
            till_address=till,
            seq=seq,
            time=at,
            lines=lines,
            tenders=tenders,
            total=total,
            change=change,
            reward_estimate=amount * c.chain.reward_rate,
            claim_url=self.claim_url(seq, amount, currency, at) if amount else "",
            copy=copy,
            footer=c.receipt.footer,
            width=c.receipt.width,
            refunded=bool(refunded),
        )

    def claim_url(self, seq: int, amount: int, currency: str, at: int) -> str:
        mining = self.config.chain.mining_address or "0x" + "00" * 20
        payload = ClaimPayload(
            chain_id=self.chain_id,
            contract=mining,
            till=self.keys.address,
            seq=seq,
            amount=amount,
            currency=currency,
            time=at,
            claim_key=claim_key(self.keys.claim_seed, self.keys.address, seq),
        )
        return payload.url(self.config.receipt.claim_base_url)

    def png(self, seq: int, copy: bool = True) -> Image:
        return render_png(self.build(seq, copy))


def known_chain_id(config: Config, store: Store) -> int | None:
    """The chain id from the config, else the one the daemon learnt from its node."""
    return config.chain.chain_id or int(store.get_meta("chain_id", "0") or 0) or None


def make_printer(config: Config, simulate: bool, state_dir: Path) -> PrinterDriver | None:
    """The configured printer; in --simulate without one, the simulated printer."""
    entry = next((d for d in config.device if d.get("kind") == "printer"), None)
    if entry is not None and entry.get("driver") != "simulated":
        return PrinterDriver.from_entry({"profile": config.receipt.profile, **entry})
    if entry is not None or simulate:
        from drivers.sim_printer import SimulatedPrinter

        directory = (entry or {}).get("dir") or state_dir / "printer"
        return SimulatedPrinter.create(
            directory, profile=(entry or {}).get("profile") or config.receipt.profile
        )
    return None


class Spooler:
    """One thread that prints queued jobs in order and retries failed ones with backoff."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.store = daemon.store
        self.printer = make_printer(daemon.config, daemon.simulate, daemon.state_dir)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def builder(self) -> ReceiptBuilder:
        chain_id = self.daemon.resolve_chain_id() or 0
        return ReceiptBuilder(self.daemon.config, self.store, self.daemon.keys, chain_id)

    # -- queue ----------------------------------------------------------------------------------
    def reprint(self, seq: int) -> int:
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM sales WHERE seq = ?", (seq,)).fetchone() is None:
                raise UnknownSale(f"no sale with seq {seq}")
            cur = conn.execute(
                "INSERT INTO print_jobs(seq, copy, created_at, next_try) VALUES (?, 1, ?, 0)",
                (seq, time.time()),
            )
            self.store.log_event("reprint", {"seq": seq}, conn=conn)
        self.wake()
        return int(cur.lastrowid)

    def queued(self) -> int:
        return self.store.one("SELECT count(*) FROM print_jobs WHERE state = 'queued'")[0]

    def status(self) -> dict[str, Any]:
        last = self.store.one(
            "SELECT last_error FROM print_jobs WHERE state = 'queued' AND attempts > 0 ORDER BY id LIMIT 1"
        )
        return {
            "printer": self.printer.describe() if self.printer else None,
            "queued": self.queued(),
            "last_error": last[0] if last else None,
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
            job = self.store.one(
                "SELECT id, seq, copy, attempts FROM print_jobs WHERE state = 'queued' "
                "AND next_try <= ? ORDER BY id LIMIT 1",
                (time.time(),),
            )
            if job is None:
                break
            self.print_one(*job)
        nxt = self.store.one("SELECT min(next_try) FROM print_jobs WHERE state = 'queued'")[0]
        return max(0.05, min(30.0, nxt - time.time())) if nxt else 30.0

    def print_one(self, job_id: int, seq: int, copy: int, attempts: int) -> bool:
        receipt = self.builder().build(seq, bool(copy))
        name = f"{seq}-copy{job_id}" if copy else str(seq)
        try:
            written = self.printer.print_job(lambda p: print_escpos(receipt, p), job=name)
        except PrinterError as exc:
            backoff = min(MAX_BACKOFF_S, 2.0 ** min(attempts, 6))
            self.store.execute(
                "UPDATE print_jobs SET attempts = attempts + 1, last_error = ?, next_try = ? WHERE id = ?",
                (exc.message, time.time() + backoff, job_id),
            )
            self.daemon.bus.publish(
                "print_failed", {"seq": seq, "job": job_id, "error": exc.message}
            )
            return False
        if written is not None and hasattr(self.printer, "save_preview"):
            self.printer.save_preview(Path(written), render_png(receipt))
        self.store.execute(
            "UPDATE print_jobs SET state = 'printed', printed_at = ?, attempts = attempts + 1, "
            "last_error = '' WHERE id = ?",
            (time.time(), job_id),
        )
        self.daemon.bus.publish("printed", {"seq": seq, "job": job_id, "copy": bool(copy)})
        return True
