"""Reconcile: make the outbox agree with the chain, which is the judge (DESIGN §3).

Read ``nextSeq(till)`` and the till's nonce at one block; then demote batches a reorg took
(resend the same bytes while their nonce is unspent, else requeue), adopt batches the chain has
that the outbox does not know as committed (after checking their root is the local proofs'; seqs
a restored database lost are rebuilt from the batch's calldata, :mod:`.adopt`), and requeue
in-flight batches that no longer continue the chain. Anything the chain holds that this till
cannot account for raises an alert and stops the flusher.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from posd import proof
from posd.chain.batch_search import batch_holding, commit_log
from posd.chain.flush.adopt import lost_records
from posd.chain.flush.context import FlushContext, Head
from posd.chain.flush.policy import Halted, Policy
from posd.chain.rpc import hexint
from posd.db import meta
from posd.db.outbox import BatchState, Landed, NotAdoptable

log = logging.getLogger("posd.chain.flusher")


class Reconciler:
    def __init__(self, ctx: FlushContext, policy: Policy) -> None:
        self.ctx = ctx
        self.policy = policy

    def reconcile(self, head: Head) -> None:
        """Mark what the chain has, requeue what it lacks."""
        ctx = self.ctx
        # both read at the same block, so a block landing in between cannot split them
        chain_next = ctx.mining.next_seq(ctx.till, head.number)
        nonce_latest = hexint(ctx.rpc.call("eth_getTransactionCount", ctx.till, hex(head.number)))
        ctx.chain_next, ctx.nonce_latest = chain_next, nonce_latest
        local_max = ctx.reads.max_seq()
        if chain_next - 1 > local_max and ctx.meta.get(meta.NEXT_SEQ) <= chain_next - 1:
            # the chain has seqs this till never issued (database restored from an old backup?)
            self.policy.alert(
                "chain_ahead",
                f"the chain has seqs up to {chain_next - 1} for this till, the outbox only to "
                f"{local_max}",
            )
        self._foreign_pending(nonce_latest)
        self._demote_lost(chain_next, nonce_latest)
        self._locate_unmarked(chain_next, head)
        self._check_inflight(chain_next, nonce_latest)
        ctx.need_reconcile = False
        ctx.meta.set(meta.FLUSH_RECONCILED_AT, time.time())
        self.policy.clear_alert()

    def _foreign_pending(self, nonce_latest: int) -> None:
        """The node's pending count against the local record: say so if someone else sends."""
        ctx = self.ctx
        pending = hexint(ctx.rpc.call("eth_getTransactionCount", ctx.till, "pending"))
        known = ctx.reads.max_nonce()
        expected = max(nonce_latest, (known + 1) if known is not None else 0)
        if pending > expected:
            log.warning(
                "the node holds %d transaction(s) from till %s that this outbox never signed "
                "(nonces %d..%d): is another process using the till key?",
                pending - expected,
                ctx.till,
                expected,
                pending - 1,
            )
            ctx.store.log_event(
                "foreign_pending_tx", {"from_nonce": expected, "to_nonce": pending - 1}
            )

    def _demote_lost(self, chain_next: int, nonce_latest: int) -> None:
        """Committed/confirmed batches the chain no longer has, or no longer in that block."""
        ctx = self.ctx
        rows = ctx.reads.landed(chain_next)
        if not rows:
            return
        known = [r for r in rows if r["first_seq"] < chain_next and r["block_number"] is not None]
        canon = ctx.block_hashes(sorted({r["block_number"] for r in known}))
        for r in rows:
            gone = r["first_seq"] >= chain_next
            # a row without a block (written by an older version) cannot have moved: it is
            # re-located below once requeued, so treat it as moved to give it a block
            moved = not gone and (
                r["block_number"] is None or canon.get(r["block_number"]) != r["block_hash"]
            )
            if not (gone or moved):
                continue
            # still valid as signed (nonce unspent): send it again; else on chain elsewhere
            # (locate it again) or its nonce is spent: requeue
            resend = gone and r["nonce"] is not None and r["nonce"] >= nonce_latest
            why = "reorged out" if gone else "block no longer canonical"
            ctx.outbox.demote(r, resend=resend, why=why)
            log.warning(
                "batch %d (seqs %d..%d) left the canonical chain: sending again",
                r["id"],
                r["first_seq"],
                r["first_seq"] + r["count"] - 1,
            )

    def _locate_unmarked(self, chain_next: int, head: Head) -> None:
        """Proofs the chain has but the outbox does not know as committed: find their batch."""
        ctx = self.ctx
        while True:
            seq = ctx.reads.first_unsent_below(chain_next)
            if seq is None:
                return
            found = batch_holding(ctx.mining, ctx.till, seq)
            if found is None:
                raise LookupError(f"no batch of {ctx.till} holds seq {seq}")
            index, cb = found
            span = f"seqs {cb.first_seq}..{cb.first_seq + cb.count - 1}"
            leaves = [proof.Leaf(ctx.till, *x) for x in ctx.reads.leaves(cb.first_seq, cb.count)]
            lost: list[proof.Leaf] = []
            root = cb.root
            if len(leaves) != cb.count:
                # seqs the database lost (a restored backup): rebuilt from the batch's calldata
                # when it is provably this till's, else an alert and a halt
                found_at = self._find_commit(index, cb.first_seq, cb.count, root)
                lost = lost_records(ctx, self.policy, index, cb, leaves, found_at)
            else:
                root = proof.merkle_root([proof.leaf_hash(x) for x in leaves])
                if root != cb.root:
                    self.policy.alert(
                        "root_mismatch",
                        f"chain batch {index} ({span}) has root {cb.root.hex()}, the local "
                        f"proofs give {root.hex()}",
                    )
                    raise Halted("chain batch differs from local proofs")
                found_at = self._find_commit(index, cb.first_seq, cb.count, root)
            where = found_at or {}
            if where.get("block_number") is None:
                # On chain (nextSeq says so) but no receipt or log tells the block (a node that
                # restarted from a state dump keeps no history): count its depth from today's
                # head, which only ever waits longer, and let a reorg of that head re-check it.
                where = {**where, "block_number": head.number, "block_hash": head.hash}
            landed = Landed(
                where.get("tx_hash"),
                where["block_number"],
                where["block_hash"],
                index,
                where.get("gas_used"),
            )
            rows = [(x.seq, x.amount, x.time, x.claim_address) for x in lost]
            try:
                ctx.outbox.found_on_chain(
                    ctx.till, cb.first_seq, cb.count, "0x" + root.hex(), landed, rows
                )
            except NotAdoptable as exc:
                self.policy.alert("unknown_batch", f"chain batch {index} ({span}): {exc}")
                raise Halted(str(exc)) from None
            if lost:
                log.warning(
                    "chain batch %d: seqs %d..%d this database lost were rebuilt from its calldata",
                    index,
                    lost[0].seq,
                    lost[-1].seq,
                )

    def _find_commit(
        self, index: int, first: int, count: int, root: bytes
    ) -> dict[str, Any] | None:
        """Where (block, tx) the chain committed this batch: our stored hashes, else the logs."""
        ctx = self.ctx
        hashes = ctx.reads.hashes_of(first, count, "0x" + root.hex())
        for rc in ctx.receipts(hashes).values():
            if rc and hexint(rc["status"]) == 1:
                for ev in ctx.mining.batch_events(rc, ctx.till):
                    if ev["batch_index"] == index:
                        ev["gas_used"] = hexint(rc["gasUsed"])
                        return ev
        return commit_log(ctx.mining, ctx.till, index, root, ctx.meta.get(meta.FLUSH_SCAN_FROM))

    def _check_inflight(self, chain_next: int, nonce_latest: int) -> None:
        """In-flight batches must continue the chain: nonce after nonce, seq after seq."""
        ctx = self.ctx
        exp_seq, exp_nonce, broken = chain_next, nonce_latest, False
        for r in ctx.reads.sent():
            if not broken and r["first_seq"] == exp_seq and r["nonce"] == exp_nonce:
                exp_seq += r["count"]
                exp_nonce += 1
                continue
            broken = True
            if r["nonce"] < nonce_latest and r["first_seq"] >= chain_next:
                # its nonce is spent and its seqs are not on chain: did it revert?
                rc = ctx.receipts(ctx.reads.attempt_hashes(r["id"]))
                if any(v and hexint(v["status"]) == 0 for v in rc.values()):
                    ctx.outbox.requeue(r["id"], BatchState.FAILED, "reverted")
                    continue
            ctx.outbox.requeue(
                r["id"], BatchState.SUPERSEDED, "out of order with the chain: resent"
            )
