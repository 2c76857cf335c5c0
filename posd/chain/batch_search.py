"""Finding a till's committed batch on chain: the one search the flusher and the claim share.

The contract keeps each till's batches in seq order, gap-free (``firstSeq == nextSeq``), so the
batch holding a seq is a binary search over ``batch(till, i)`` (O(log n) view calls), and the
transaction that committed it is found through its ``BatchCommitted`` log. Both callers speak to
the contract through a :class:`BatchSource`: the flusher's raw JSON-RPC ``MiningClient``
(posd/chain/rpc.py) is one as it is; :class:`Web3Batches` adapts a web3 contract (the claim).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ChainBatch:
    """``batch(till, i)`` as the contract stores it (defined here, not in the heavier rpc
    module, so the search stays import-light)."""

    first_seq: int
    count: int
    root: bytes


class BatchSource(Protocol):
    """A till's batches as the mining contract reports them."""

    def batch_count(self, till: str) -> int: ...

    def batch(self, till: str, index: int) -> ChainBatch: ...

    def commit_logs(self, till: str, from_block: int) -> list[dict[str, Any]]:
        """BatchCommitted logs of ``till``: dicts with at least ``batch_index``, ``root``
        (bytes), ``tx_hash``, ``block_number``."""
        ...


def batch_holding(
    src: BatchSource, till: str, seq: int, count: int | None = None
) -> tuple[int, ChainBatch] | None:
    """(index, batch) of the committed batch whose [firstSeq, firstSeq + count) holds ``seq``."""
    n = src.batch_count(till) if count is None else count
    lo, hi = 0, n - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        b = src.batch(till, mid)
        if seq < b.first_seq:
            hi = mid - 1
        elif seq >= b.first_seq + b.count:
            lo = mid + 1
        else:
            return mid, b
    return None


def commit_log(
    src: BatchSource, till: str, index: int, root: bytes, from_block: int = 0
) -> dict[str, Any] | None:
    """The BatchCommitted log of batch ``index`` with this root (a log with another root comes
    from a block that was reorged out: skipped)."""
    for ev in src.commit_logs(till, from_block):
        if ev["batch_index"] == index and bytes(ev["root"]) == bytes(root):
            return ev
    return None


class Web3Batches:
    """A web3 mining contract object as a :class:`BatchSource` (no web3 import needed here)."""

    def __init__(self, mining: Any) -> None:
        self.mining = mining

    def batch_count(self, till: str) -> int:
        return int(self.mining.functions.batchCount(till).call())

    def next_seq(self, till: str) -> int:
        return int(self.mining.functions.nextSeq(till).call())

    def batch(self, till: str, index: int) -> ChainBatch:
        first, count, root = self.mining.functions.batch(till, index).call()
        return ChainBatch(int(first), int(count), bytes(root))

    def commit_logs(self, till: str, from_block: int) -> list[dict[str, Any]]:
        event = self.mining.events.BatchCommitted()
        logs = event.get_logs(
            argument_filters={"till": till}, from_block=from_block, to_block="latest"
        )
        return [
            {
                "batch_index": int(e["args"]["batchIndex"]),
                "first_seq": int(e["args"]["firstSeq"]),
                "count": int(e["args"]["count"]),
                "root": bytes(e["args"]["root"]),
                "tx_hash": e["transactionHash"].to_0x_hex(),
                "block_number": int(e["blockNumber"]),
            }
            for e in logs
        ]
