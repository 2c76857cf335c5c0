"""Adopt: seqs a restored database lost, rebuilt from the chain's own calldata (DESIGN §2-§3).

A backup restored over a newer database may hold proofs that were later committed in one batch
with sales it never saw. The chain keeps every record of that batch in the calldata of the
transaction that committed it, so the lost records can be read back — but only a batch proven to
be this till's own is taken: its transaction calls the mining contract for this till, its
records give the batch's stored root, and the records the database still holds are its proofs,
field for field. Anything less keeps the alert and the halt. Claim keys are never part of it:
only amounts, times and claim addresses, as the calldata carries them.
"""

from __future__ import annotations

from typing import Any, NoReturn

from posd import proof
from posd.chain.batch_search import ChainBatch
from posd.chain.flush.context import FlushContext
from posd.chain.flush.policy import HALT_RETRY_S, Halted, Policy


def lost_records(
    ctx: FlushContext,
    policy: Policy,
    index: int,
    cb: ChainBatch,
    held: list[proof.Leaf],
    where: dict[str, Any] | None,
) -> list[proof.Leaf]:
    """The records of chain batch ``index`` whose seqs the outbox does not hold.

    ``held``: the outbox's proofs among the batch's seqs; ``where``: the batch's commit as found
    (``tx_hash``), or None. Raises :class:`Halted` after an alert when the batch cannot be
    proven this till's: ``root_mismatch`` when a held proof differs from the chain's record,
    ``unknown_batch`` when the transaction cannot be read or does not hold the batch.
    """
    last = cb.first_seq + cb.count - 1
    span = f"chain batch {index} (seqs {cb.first_seq}..{last})"
    tx_hash = (where or {}).get("tx_hash")
    tx = ctx.rpc.call("eth_getTransactionByHash", tx_hash) if tx_hash else None
    if not tx:
        _stop(
            policy,
            "unknown_batch",
            f"{span} holds seqs this database lost (restored from a backup?) and the node has "
            "no transaction or BatchCommitted log for it (a node restarted from a state dump, or "
            "one that prunes history), so its records cannot be rebuilt: point [chain] rpc_url "
            "at a node that keeps the chain's full history (an archive node); the flusher looks "
            f"again every {HALT_RETRY_S // 60} minutes",
        )
    try:
        till, first, records = ctx.mining.commit_of(tx)
        chain = proof.decode_records(till, first, records)
    except (ValueError, TypeError) as exc:
        _stop(policy, "unknown_batch", f"{span}: its transaction {tx_hash} cannot be read: {exc}")
    root = proof.merkle_root([proof.leaf_hash(x) for x in chain])
    if till.lower() != ctx.till.lower() or first != cb.first_seq or root != cb.root:
        _stop(
            policy,
            "unknown_batch",
            f"{span}: transaction {tx_hash} does not commit it for this till (till {till}, "
            f"first seq {first}, {len(chain)} records, root {root.hex()})",
        )
    mine = {x.seq: x for x in held}
    for x in chain:
        own = mine.get(x.seq)
        if own is not None and _fields(own) != _fields(x):
            _stop(
                policy,
                "root_mismatch",
                f"{span}: seq {x.seq} differs between the local proof and the chain's record "
                f"(amount {own.amount} / {x.amount}, time {own.time} / {x.time})",
            )
    return [x for x in chain if x.seq not in mine]


def _fields(x: proof.Leaf) -> tuple[int, int, str]:
    return x.amount, x.time, x.claim_address.lower()


def _stop(policy: Policy, kind: str, detail: str) -> NoReturn:
    policy.alert(kind, detail)
    raise Halted(detail)
