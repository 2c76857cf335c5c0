"""Confirmation: committed batches still in the canonical chain become ``confirmed`` when deep.

Deep means ``confirmations`` blocks (the batch's own included), or at or below the ``finalized``
block where ``confirm = "finalized"`` and the node knows that tag. A batch whose block is no
longer canonical is left to the reconcile (``need_reconcile``), never confirmed.
"""

from __future__ import annotations

from posd.chain.flush.context import FlushContext, Head, StepResult
from posd.chain.rpc import RpcError, hexint


def confirm(ctx: FlushContext, head: Head, res: StepResult) -> None:
    rows = ctx.reads.committed()
    if not rows:
        return
    final_number: int | None = None
    if ctx.cfg.confirm == "finalized":
        try:
            fin = ctx.rpc.call("eth_getBlockByNumber", "finalized", False)
            final_number = hexint(fin["number"]) if fin else None
        except RpcError:
            final_number = None  # no finalized tag here: count blocks instead
    canon = ctx.block_hashes(sorted({r["block_number"] for r in rows if r["block_number"]}))
    done: list[int] = []
    for r in rows:
        if r["block_number"] is None or canon.get(r["block_number"]) != r["block_hash"]:
            ctx.need_reconcile = True  # reorged (or re-mined elsewhere)
            continue
        if final_number is not None:
            deep = r["block_number"] <= final_number
        else:
            deep = head.number - r["block_number"] + 1 >= ctx.cfg.confirmations
        if deep:
            done.append(r["id"])
            res.confirmed += r["count"]
    ctx.outbox.confirm(done)
