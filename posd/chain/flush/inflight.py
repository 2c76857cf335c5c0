"""In-flight tracking: receipts of sent batches, reverts, drops and fee-bump replacements.

Each round asks, in one batched round trip, for the receipt of every hash a sent batch was ever
signed with and whether the node still knows its latest transaction. A receipt moves the batch to
``committed`` (after checking its BatchCommitted event is what was signed) or, reverted, makes
the contract say why (``eth_call``) before anything is retried. No receipt after
``tx_timeout_s``: the same nonce and data again with fees raised ≥ 12.5 %; dropped from the
pool: the very same bytes again.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from posd.chain.flush.context import FlushContext, Head, StepResult, as_fees
from posd.chain.flush.policy import HALT_RETRY_S, Policy
from posd.chain.rpc import RpcError, hexint, is_revert
from posd.chain.sender import GWEI, FeeCapReached
from posd.db import meta
from posd.db.outbox import BatchState, Landed

log = logging.getLogger("posd.chain.flusher")


class Inflight:
    def __init__(self, ctx: FlushContext, policy: Policy) -> None:
        self.ctx = ctx
        self.policy = policy

    def poll(self, head: Head, res: StepResult) -> None:
        ctx = self.ctx
        rows = ctx.reads.sent_full()
        if not rows:
            return
        calls: list[tuple[str, tuple]] = []
        for r in rows:
            hashes = json.loads(r["tx_hashes"])
            calls.extend(("eth_getTransactionReceipt", (h,)) for h in hashes)
            calls.append(("eth_getTransactionByHash", (hashes[-1],)))
        answers = iter(ctx.rpc.batch(calls))
        resend: list[Any] = []
        for r in rows:
            receipts = [next(answers) for _ in json.loads(r["tx_hashes"])]
            known = next(answers)
            rc = next((a for a in receipts if isinstance(a, dict)), None)
            if rc is not None:
                if hexint(rc["status"]) == 1:
                    self.on_committed(r, rc, res)
                else:
                    self.on_reverted(r, rc, head)
                continue
            if ctx.need_reconcile:
                continue  # an earlier batch reverted: the rest waits for the reconcile
            if time.time() - (r["sent_at"] or 0) >= ctx.cfg.tx_timeout_s:
                if self.replace(r, head):
                    res.replaced += 1
            elif not isinstance(known, dict):
                resend.append(r)  # dropped from the pool (or a node restart): same bytes again
        if resend:
            errors = ctx.sender.broadcast_many([bytes.fromhex(r["raw_tx"][2:]) for r in resend])
            for r, err in zip(resend, errors, strict=True):
                ctx.after_broadcast(r["id"], err)

    def on_committed(self, r: Any, rc: dict[str, Any], res: StepResult) -> None:
        ctx = self.ctx
        events = ctx.mining.batch_events(rc, ctx.till)
        ev = events[0] if events else None
        if (
            ev is None
            or ev["first_seq"] != r["first_seq"]
            or ev["count"] != r["count"]
            or ("0x" + ev["root"].hex()) != r["root"]
        ):
            self.policy.alert(
                "receipt_mismatch",
                f"batch {r['id']}: the receipt's BatchCommitted event does not match what was signed",
            )
            return
        used = hexint(rc["gasUsed"])
        block = hexint(rc["blockNumber"])
        landed = Landed(rc["transactionHash"], block, rc["blockHash"], ev["batch_index"], used)
        ctx.outbox.mark_committed(r["id"], landed)
        res.committed += r["count"]
        ctx.failures = 0
        ctx.learn_gas(used, r["count"], persist=True)

    def on_reverted(self, r: Any, rc: dict[str, Any], head: Head) -> None:
        """Never retried blindly: ask the contract why (eth_call), then act on the reason."""
        ctx = self.ctx
        data = ctx.batch_calldata(r["first_seq"], r["count"])
        reason = None
        try:
            ctx.rpc.call(
                "eth_call",
                {"from": ctx.till, "to": ctx.mining.address, "data": "0x" + data.hex()},
                "latest",
            )
        except RpcError as exc:
            reason = exc.revert_reason if is_revert(exc) else None
        if reason is None and hexint(rc["gasUsed"]) >= (r["gas"] or 0):
            reason = "OutOfGas"
            ctx.per_record_gas *= 1.5
            ctx.meta.set(meta.FLUSH_GAS_PER_RECORD, ctx.per_record_gas)
        ctx.outbox.requeue(r["id"], BatchState.FAILED, f"reverted: {reason or 'unknown'}")
        log.warning(
            "batch %d (seqs %d..%d) reverted: %s",
            r["id"],
            r["first_seq"],
            r["first_seq"] + r["count"] - 1,
            reason,
        )
        ctx.failures += 1
        self.policy.react(reason, head)
        if reason in (None, "OutOfGas") and ctx.failures >= 3:
            self.policy.halt(
                "reverts",
                f"{ctx.failures} batches in a row reverted ({reason or 'no reason given'})",
                retry_at=time.time() + HALT_RETRY_S,
            )
        ctx.need_reconcile = True

    def replace(self, r: Any, head: Head) -> bool:
        """No receipt in time: same nonce, same data, fees raised ≥ 12.5 %."""
        ctx = self.ctx
        try:
            fees = ctx.sender.replacement_fees(as_fees(r), ctx.fees(head))
        except FeeCapReached as exc:
            ctx.link_error("error: fee cap", str(exc))
            ctx.outbox.postpone(r["id"], str(exc))
            # still make sure the node has it
            err = ctx.sender.broadcast_many([bytes.fromhex(r["raw_tx"][2:])])[0]
            ctx.after_broadcast(r["id"], err)
            return False
        data = ctx.batch_calldata(r["first_seq"], r["count"])
        signed = ctx.sender.sign(ctx.mining.address, data, r["nonce"], r["gas"], fees)
        hashes = [*json.loads(r["tx_hashes"]), signed.hash]
        ctx.outbox.replaced(
            r["id"], r["nonce"], hashes, "0x" + signed.raw.hex(), (fees.max_fee, fees.priority_fee)
        )
        log.info(
            "batch %d: no receipt after %ss, replaced (nonce %d, max fee %.2f gwei)",
            r["id"],
            ctx.cfg.tx_timeout_s,
            r["nonce"],
            fees.max_fee / GWEI,
        )
        err = ctx.sender.broadcast_many([signed.raw])[0]
        ctx.after_broadcast(r["id"], err)
        return True
