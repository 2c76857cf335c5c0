"""The flusher: one till's exactly-once delivery of its outbox to the mining contract (DESIGN §3).

The chain is the judge: ``nextSeq(till)`` and the till's batches on chain say what is there, and
the contract refuses a seq twice (``SeqMismatch``), so the flusher may resend whenever in doubt.
What it must never do is lose a proof or accept a batch it did not sign the data of.

A round (:meth:`Flusher.step`) is: read the head; unless halted, reconcile when in doubt, poll
the batches in flight (:mod:`.inflight`), confirm deep ones (:mod:`.confirm`), reconcile again if
that found a reorg (:mod:`.reconcile`), form and send new batches (:mod:`.forming`); then check
the gas balance and apply retention. State changes are the outbox's (posd/db/outbox.py).
Network I/O never happens inside a SQLite transaction, except signing a batch transaction, done
inside the one that binds its proofs so a refund cannot slip in between.
"""

from __future__ import annotations

import logging
import time

from posd.chain.flush.confirm import confirm
from posd.chain.flush.context import FlushContext, Head, StepResult
from posd.chain.flush.forming import Former
from posd.chain.flush.inflight import Inflight
from posd.chain.flush.link import link_state, set_link
from posd.chain.flush.policy import Policy
from posd.chain.flush.reconcile import Reconciler
from posd.chain.rpc import hexint
from posd.chain.sender import Sender
from posd.config.settings import ChainConfig
from posd.db import meta
from posd.db.store import Store

log = logging.getLogger("posd.chain.flusher")

DAY = 86400


class Flusher:
    """One till's sender. Not thread-safe: one flusher per till key, under :class:`SenderLock`.

    ``sender`` signs, prices and broadcasts (default: built from ``private_key`` and the
    config's ``rpc_url`` / ``max_fee_gwei``); pass one to use another node client or a test
    double. With a sender given, ``private_key`` is not used (None is fine).
    """

    def __init__(
        self,
        store: Store,
        private_key: bytes | None,
        chain: ChainConfig,
        *,
        pipeline: int = 16,
        rpc_timeout: float = 10.0,
        sender: Sender | None = None,
    ) -> None:
        if sender is None:
            if private_key is None:
                raise ValueError("a Flusher needs the till's private key or a Sender")
            sender = Sender.for_config(private_key, chain, rpc_timeout)
        self.ctx = FlushContext(store, chain, sender, pipeline)
        self.policy = Policy(self.ctx)
        self.former = Former(self.ctx, self.policy)
        self.inflight = Inflight(self.ctx, self.policy)
        self.reconciler = Reconciler(self.ctx, self.policy)
        self.last_head: Head | None = None
        self.rounds = 0
        self._last_balance_check = 0.0
        self._last_retention = 0.0

    @property
    def need_reconcile(self) -> bool:
        return self.ctx.need_reconcile

    @need_reconcile.setter
    def need_reconcile(self, value: bool) -> None:
        self.ctx.need_reconcile = value

    # -- one round --------------------------------------------------------------------------
    def step(self) -> StepResult:
        """Poll, confirm, reconcile when in doubt, form and send new batches. Raises LinkDown."""
        ctx, res = self.ctx, StepResult()
        self.rounds += 1
        ctx.market = None
        ctx.sender.chain_id()  # learnt once, before any signing inside a transaction
        head = ctx.head()
        if self.last_head is not None and head.number < self.last_head.number:
            log.warning(
                "the chain went back from block %d to %d: reconciling",
                self.last_head.number,
                head.number,
            )
            ctx.need_reconcile = True
        self.last_head = head
        if self.rounds % 20 == 0:
            ctx.need_reconcile = True
        blocked = self.policy.blocked(head)
        if blocked is not None and blocked != "cap_exceeded":
            self._counts(res)  # halted (alert, not a till, paused): wait for retry_at
            return res
        ctx.round_error = False
        if ctx.need_reconcile:
            self.reconciler.reconcile(head)
            res.reconciled = True
        self.inflight.poll(head, res)
        confirm(ctx, head, res)
        if ctx.need_reconcile:
            self.reconciler.reconcile(head)
            res.reconciled = True
        if self.policy.blocked(head) is None:
            self.former.form_and_send(head, res)
            if link_state(ctx.store) != "online" and not ctx.round_error:
                set_link(ctx.store, "online")
        self._balance_check(head)
        self._retention()
        self._counts(res)
        return res

    def reconcile(self, head: Head | None = None) -> None:
        """Make the outbox agree with the chain now (outside a round)."""
        self.reconciler.reconcile(head or self.ctx.head())

    def _counts(self, res: StepResult) -> None:
        reads = self.ctx.reads
        res.inflight = reads.inflight_count()
        res.unbatched = reads.unbatched_count()
        res.unconfirmed = reads.unconfirmed_count()

    # -- balance and retention ---------------------------------------------------------------------
    def _balance_check(self, head: Head, every_s: float = 60.0) -> None:
        if time.time() - self._last_balance_check < every_s:
            return
        self._last_balance_check = time.time()
        ctx = self.ctx
        balance = hexint(ctx.rpc.call("eth_getBalance", ctx.till, "latest"))
        fees = ctx.fees(head)
        seen = ctx.reads.recent_gas_used()
        gas = int(seen) if seen else ctx.gas_for(ctx.cfg.max_batch)
        batches_left = balance // (gas * max(fees.max_fee, 1))
        low = batches_left < ctx.cfg.low_balance_batches
        old = ctx.meta.get(meta.FLUSH_BALANCE)
        data = {
            "balance_wei": str(balance),
            "batches_left": int(batches_left),
            "low": low,
            "at": time.time(),
        }
        ctx.meta.set(meta.FLUSH_BALANCE, data)
        if low and not old.get("low"):
            log.warning(
                "till %s gas balance %.6f covers only %d batches (warn below %d): top it up",
                ctx.till,
                balance / 10**18,
                batches_left,
                ctx.cfg.low_balance_batches,
            )
            ctx.store.log_event("low_balance", data)

    def _retention(self, every_s: float = 3600.0) -> None:
        """Confirmed proofs older than retention_days go (sales rows and batches stay)."""
        ctx = self.ctx
        if time.time() - self._last_retention < every_s or ctx.cfg.retention_days <= 0:
            return
        self._last_retention = time.time()
        cutoff = time.time() - ctx.cfg.retention_days * DAY
        while ctx.outbox.drop_confirmed(cutoff) >= 2000:
            pass
