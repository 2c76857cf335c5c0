"""The daemon's background jobs (APScheduler 3.x): the flush of the outbox to the chain.

One interval job every ``flush_interval_s`` runs a flush round; it is pulled forward when the
backlog passes ``backlog_threshold``, when batches are in flight (poll for receipts soon) and when
the link comes back; offline it backs off exponentially with jitter. The job takes the sender
lock without waiting for each round: while `posd flush` holds it, the daemon's rounds stand aside.
The flusher uses its own SQLite connection, so a sale never waits behind it for more than one
short write transaction, and never behind network I/O. The scheduler gets what it needs (the
config, the daemon's store, the till key), not the daemon; the link state it leaves is read with
``link_status(store)`` (posd.chain.flush.link), the one place it lives.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from posd.chain.flush import Flusher, Halted, backoff_delays, flush_once
from posd.chain.flush.link import link_state, link_status, set_link
from posd.chain.rpc import LinkDown
from posd.chain.sender import SenderLock
from posd.config.settings import Config
from posd.db.batches import Batches
from posd.db.store import Store

log = logging.getLogger("posd.chain.scheduler")
INFLIGHT_POLL_S = 2.0  # batches in flight: look for receipts this often


class TillScheduler:
    """Owned by the daemon: ``start()``, ``stop()``, ``sale_completed()``, ``link_status()``.

    ``store`` is the daemon's connection (backlog counts, link state); the flusher opens its own.
    """

    def __init__(self, config: Config, store: Store, private_key: bytes) -> None:
        self.config = config
        self.chain = config.chain
        self.main_store = store
        self.private_key = private_key
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.lock = SenderLock(self.config.state_dir)
        self.store: Store | None = None
        self.flusher: Flusher | None = None
        self._attempt = 0
        self._delay = backoff_delays(base=1.0, cap=max(60.0, float(self.chain.flush_interval_s)))
        self._since_check = 0
        self._guard = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if not self.chain.rpc_url or not self.chain.mining_address:
            set_link(self.main_store, "unconfigured")
            log.info("no [chain] rpc_url / mining_address: proofs stay queued")
            return
        self.store = Store(self.config.db_path)
        self.flusher = Flusher(self.store, self.private_key, self.chain)
        self.scheduler.add_job(
            self._run,
            "interval",
            seconds=self.chain.flush_interval_s,
            id="flush",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),  # reconcile at start
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.lock.release()
        if self.store is not None:
            self.store.close()

    # -- triggers ------------------------------------------------------------------------------
    def run_soon(self, delay_s: float = 0.0) -> None:
        """Pull the flush job forward (never pushes it back past its interval)."""
        if not self.scheduler.running:
            return
        job = self.scheduler.get_job("flush")
        if job is None:
            return
        when = datetime.now(UTC) + timedelta(seconds=delay_s)
        if job.next_run_time is None or when < job.next_run_time:
            job.modify(next_run_time=when)

    def _defer(self, delay_s: float) -> None:
        job = self.scheduler.get_job("flush") if self.scheduler.running else None
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC) + timedelta(seconds=delay_s))

    def sale_completed(self) -> None:
        """Called after each sale: a backlog past the threshold flushes at once."""
        if self.store is None:
            return
        self._since_check += 1
        if self._since_check < 16 and self._since_check < self.chain.backlog_threshold:
            return
        self._since_check = 0
        waiting = Batches(self.main_store).pending_count()
        if waiting >= self.chain.backlog_threshold:
            self.run_soon()

    def link_status(self) -> dict[str, Any]:
        return link_status(self.main_store)

    # -- the job -------------------------------------------------------------------------------
    def _run(self) -> None:
        if not self._guard.acquire(blocking=False):
            return
        try:
            self._round()
        finally:
            self._guard.release()

    def _round(self) -> None:
        assert self.flusher is not None and self.store is not None
        if not self.lock.acquire(timeout=0):
            log.info("another sender holds %s (posd flush?): standing aside", self.lock.path)
            self.flusher.need_reconcile = True  # it will have sent: look at the chain again
            return
        was_offline = self._attempt > 0
        try:
            res = flush_once(self.flusher)
        except LinkDown as exc:
            self._attempt += 1
            wait = self._delay(self._attempt)
            log.info("chain offline (%s): next try in %.1fs", exc, wait)
            self._defer(wait)
            return
        except Halted:
            return  # the halt set the link state
        except Exception as exc:  # noqa: BLE001 - the job must survive anything and say so
            log.exception("flush round failed")
            set_link(self.store, f"error: {type(exc).__name__}: {exc}")
            self._attempt += 1
            self._defer(self._delay(self._attempt))
            return
        finally:
            self.lock.release()
        self._attempt = 0
        state = link_state(self.store) or "online"
        if state != "online":
            return  # cap reached, halted, fee cap: the interval is soon enough
        if was_offline:
            log.info("chain link is back: flushing now")
            self.run_soon()
        elif res.inflight or res.unbatched:
            self.run_soon(INFLIGHT_POLL_S)
        elif res.unconfirmed:
            self.run_soon(min(float(self.chain.flush_interval_s), 5.0))
