"""The daemon's background jobs (APScheduler 3.x): the flush of the outbox to the chain.

One interval job every ``flush_interval_s`` runs a flush round; it is pulled forward when the
backlog passes ``backlog_threshold``, when batches are in flight (poll for receipts soon) and when
the link comes back; offline it backs off exponentially with jitter. The job takes the sender
lock without waiting for each round: while `posd flush` holds it, the daemon's rounds stand aside.
The flusher uses its own SQLite connection, so a sale never waits behind it for more than one
short write transaction, and never behind network I/O.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler

from posd.chain import LinkDown
from posd.flusher import Flusher, Halted, backoff_delays, flush_once, link_status, set_link
from posd.sender import SenderLock
from posd.store import Store

if TYPE_CHECKING:
    from posd.daemon import Daemon

log = logging.getLogger("posd.scheduler")
INFLIGHT_POLL_S = 2.0  # batches in flight: look for receipts this often


class TillScheduler:
    """Owned by the daemon: ``start()``, ``stop()``, ``sale_completed()``, ``link_status()``."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.config = daemon.config
        self.chain = daemon.config.chain
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
            self.daemon.link_state = "unconfigured"
            set_link(self.daemon.store, "unconfigured")
            log.info("no [chain] rpc_url / mining_address: proofs stay queued")
            return
        self.store = Store(self.config.db_path)
        self.flusher = Flusher(self.store, self.daemon.keys.private_key, self.chain)
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
        waiting = self.daemon.store.one("SELECT count(*) FROM proofs WHERE state = 'pending'")[0]
        if waiting >= self.chain.backlog_threshold:
            self.run_soon()

    def link_status(self) -> dict[str, Any]:
        return link_status(self.daemon.store)

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
            self.daemon.link_state = "offline"
            log.info("chain offline (%s): next try in %.1fs", exc, wait)
            self._defer(wait)
            return
        except Halted as exc:
            self.daemon.link_state = f"error: {exc}"
            return
        except Exception as exc:  # noqa: BLE001 - the job must survive anything and say so
            log.exception("flush round failed")
            set_link(self.store, f"error: {type(exc).__name__}: {exc}")
            self._attempt += 1
            self._defer(self._delay(self._attempt))
            return
        finally:
            self.lock.release()
        self._attempt = 0
        state = str(link_status(self.store).get("state", "online"))
        self.daemon.link_state = state
        if state != "online":
            return  # cap reached, halted, fee cap: the interval is soon enough
        if was_offline:
            log.info("chain link is back: flushing now")
            self.run_soon()
        elif res.inflight or res.unbatched:
            self.run_soon(INFLIGHT_POLL_S)
        elif res.unconfirmed:
            self.run_soon(min(float(self.chain.flush_interval_s), 5.0))
