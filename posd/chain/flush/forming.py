"""Batch forming: the next consecutive proofs into signed batch transactions, nonce after nonce.

Up to ``pipeline`` batches are in flight at once; each continues the last one (seq after seq,
nonce after nonce), or the chain's ``nextSeq`` and nonce when none is. The first batch of a run is
preflighted with ``eth_estimateGas`` (a revert there costs nothing); each is signed and stored
with its proofs bound (:meth:`Outbox.bind_batch`) before any of them is broadcast, in one round
trip.
"""

from __future__ import annotations

import logging

from posd import proof
from posd.chain.flush.context import FlushContext, Head, StepResult
from posd.chain.flush.policy import Policy
from posd.chain.rpc import RpcError, hexint, is_revert
from posd.chain.sender import Fees
from posd.db import meta

log = logging.getLogger("posd.chain.flusher")


class Former:
    def __init__(self, ctx: FlushContext, policy: Policy) -> None:
        self.ctx = ctx
        self.policy = policy

    def form_and_send(self, head: Head, res: StepResult) -> None:
        ctx = self.ctx
        inflight = ctx.reads.sent()
        room = ctx.pipeline - len(inflight)
        if room <= 0:
            return
        if inflight:
            last = inflight[-1]
            next_seq, nonce = last["first_seq"] + last["count"], last["nonce"] + 1
        else:
            next_seq = ctx.mining.next_seq(ctx.till, head.number)
            nonce = hexint(ctx.rpc.call("eth_getTransactionCount", ctx.till, hex(head.number)))
            ctx.chain_next, ctx.nonce_latest = next_seq, nonce
            # seqs a restored database lost: their zero-amount fillers, now that C is known (§2)
            ctx.outbox.cover_gap(ctx.till, next_seq)
        first_unbatched = ctx.reads.first_unbatched()
        if first_unbatched is None:
            return
        if first_unbatched != next_seq:
            if not inflight and first_unbatched > next_seq and not ctx.reads.leaves(next_seq, 1):
                # the chain waits for seqs this outbox does not have: nothing can ever follow
                self.policy.alert(
                    "seq_gap",
                    f"the chain expects seq {next_seq}, the outbox's next is {first_unbatched}",
                )
            elif first_unbatched < next_seq or not inflight:
                ctx.need_reconcile = True
            return  # a gap: the proofs before it are in a batch still deciding its fate
        fresh: list[tuple[int, bytes]] = []
        preflight = not inflight
        for _ in range(room):
            rows = ctx.reads.unbatched(next_seq, ctx.cfg.max_batch)
            if rows and self.isolate(rows, res):
                rows = ctx.reads.unbatched(next_seq, ctx.cfg.max_batch)
            if not rows:
                break
            leaves = [proof.Leaf(ctx.till, *r) for r in rows]
            records = proof.encode_records(leaves)
            data = ctx.mining.commit_calldata(next_seq, records)
            gas = ctx.gas_for(len(leaves))
            if preflight:
                estimated = self.preflight(data, len(leaves), head)
                if estimated is None:
                    return
                gas, preflight = estimated, False
            fees = ctx.fees(head).at_least(self.reuse_floor(nonce))
            if fees.max_fee > ctx.sender.cap_wei:
                ctx.link_error("error: fee cap", "nonce reuse needs fees above max_fee_gwei")
                break
            signed = self.sign_and_store(rows, leaves, data, nonce, gas, fees)
            if signed is None:
                break  # the proofs changed under us (refund): next round
            fresh.append(signed)
            res.formed += len(leaves)
            next_seq += len(leaves)
            nonce += 1
        if fresh:
            errors = ctx.sender.broadcast_many([raw for _, raw in fresh])
            for (batch_id, _), err in zip(fresh, errors, strict=True):
                ctx.after_broadcast(batch_id, err)

    def isolate(self, rows: list, res: StepResult) -> bool:
        """Void the proofs among ``rows`` that no record can carry (True if there were any).

        Such a proof would fail every batch forever, and seqs are gap-free, so no later proof
        could pass it: it becomes a zero-amount record (unclaimable, like a filler) — the seq
        stays — with an event keeping what it held and an alert in status for a technician.
        """
        voided = []
        for seq, amount, at, claim in rows:
            try:
                proof.encode_record(amount, at, claim)
            except (ValueError, TypeError, OverflowError) as exc:
                held = self.ctx.outbox.void_unencodable(seq, str(exc))
                if held is not None:
                    voided.append(seq)
                    log.error("proof %s cannot be committed (%s): voided to amount 0", seq, exc)
        if voided:
            detail = f"proofs {voided} could not be encoded and were committed with amount 0"
            self.ctx.meta.set(
                meta.FLUSH_ALERT, {"kind": "proof_voided", "detail": detail, "seqs": voided}
            )
            res.events.append(detail)
        return bool(voided)

    def preflight(self, data: bytes, count: int, head: Head) -> int | None:
        """eth_estimateGas of the first batch: a revert here costs nothing (no gas spent)."""
        ctx = self.ctx
        try:
            est = hexint(
                ctx.rpc.call(
                    "eth_estimateGas",
                    {"from": ctx.till, "to": ctx.mining.address, "data": "0x" + data.hex()},
                )
            )
        except RpcError as exc:
            reason = exc.revert_reason if is_revert(exc) else None
            if reason == "SeqMismatch":
                ctx.need_reconcile = True
            elif reason is not None:
                self.policy.react(reason, head)
            elif "insufficient funds" in exc.message.lower():
                ctx.link_error("error: insufficient funds for gas", exc.message)
            else:
                ctx.link_error(f"error: {exc.message}")
            return None
        ctx.learn_gas(est, count, persist=False)
        return max(int(est * 1.25) + 20_000, ctx.gas_for(count))

    def reuse_floor(self, nonce: int) -> Fees:
        """A nonce given up by a superseded batch may still sit in the pool: outbid it."""
        top = self.ctx.reads.top_fees(nonce)
        return Fees(0, 0) if top is None else Fees(*top).bumped()

    def sign_and_store(
        self,
        rows: list,
        leaves: list[proof.Leaf],
        data: bytes,
        nonce: int,
        gas: int,
        fees: Fees,
    ) -> tuple[int, bytes] | None:
        """Sign inside the outbox transaction that stores the attempt and binds the proofs."""
        ctx = self.ctx
        root = "0x" + proof.merkle_root([proof.leaf_hash(x) for x in leaves]).hex()
        raw: list[bytes] = []

        def sign() -> tuple[str, str]:
            signed = ctx.sender.sign(ctx.mining.address, data, nonce, gas, fees)
            raw.append(signed.raw)
            return "0x" + signed.raw.hex(), signed.hash

        batch_id = ctx.outbox.bind_batch(
            ctx.till, rows, root, nonce, gas, (fees.max_fee, fees.priority_fee), sign
        )
        return None if batch_id is None else (batch_id, raw[0])
