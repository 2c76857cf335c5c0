"""What every step of a flush round shares: the till's outbox, its sender, the chain, the flags.

One :class:`FlushContext` per flusher; the steps (forming, in flight, confirmation, reconcile)
each get it and read or set the round's flags (``need_reconcile``, ``round_error``) here, so no
step needs another step or the flusher itself.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from posd import proof
from posd.chain.flush.link import set_link
from posd.chain.rpc import MiningClient, Rpc, hexint
from posd.chain.sender import Fees, Sender
from posd.config.settings import ChainConfig
from posd.db import meta
from posd.db.batches import Batches
from posd.db.outbox import Outbox
from posd.db.store import Store

log = logging.getLogger("posd.chain.flusher")

# Gas limit of a batch = BASE_GAS + 1.3 × count × per-record gas. BASE_GAS covers the intrinsic
# 21k and up to six cold storage writes (a till's first batch of a day); the per-record part
# (calldata, leaf hash, tree) is learnt from receipts of batches of 32+ records. Unused gas costs
# nothing; an out-of-gas revert raises the estimate by half.
BASE_GAS = 180_000
PER_RECORD_GAS = 2_000
LEARN_MIN_COUNT = 32


@dataclass
class Head:
    number: int
    hash: str
    timestamp: int
    base_fee: int


@dataclass
class StepResult:
    formed: int = 0
    committed: int = 0
    confirmed: int = 0
    replaced: int = 0
    reconciled: bool = False
    inflight: int = 0
    unbatched: int = 0
    unconfirmed: int = 0
    events: list[str] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        """Nothing to send and nothing in flight (committed batches may still be confirming)."""
        return self.inflight == 0 and self.unbatched == 0


class FlushContext:
    """One till's outbox, sender and chain view, and the state a round carries between steps."""

    def __init__(self, store: Store, chain: ChainConfig, sender: Sender, pipeline: int) -> None:
        if not chain.rpc_url or not chain.mining_address:
            raise ValueError("[chain] rpc_url and mining_address must be set to flush")
        self.store = store
        self.cfg = chain
        self.sender = sender
        self.rpc: Rpc = sender.rpc
        self.till = sender.address
        self.mining = MiningClient(self.rpc, chain.mining_address)
        self.outbox = Outbox(store)
        self.reads = Batches(store, self.till)
        self.meta = meta.Meta(store)
        self.pipeline = max(1, pipeline)
        self.need_reconcile = True
        self.round_error = False
        self.failures = 0  # reverts in a row
        self.chain_next: int | None = None
        self.nonce_latest: int | None = None
        self.market: Fees | None = None
        self.per_record_gas = self.meta.get(meta.FLUSH_GAS_PER_RECORD) or float(PER_RECORD_GAS)

    # -- the chain --------------------------------------------------------------------------------
    def head(self) -> Head:
        blk = self.rpc.call("eth_getBlockByNumber", "latest", False)
        return Head(
            hexint(blk["number"]),
            blk["hash"],
            hexint(blk["timestamp"]),
            hexint(blk.get("baseFeePerGas") or "0x0"),
        )

    def fees(self, head: Head) -> Fees:
        """Market fees, asked once per round."""
        if self.market is None:
            self.market = self.sender.market_fees(head.base_fee)
        return self.market

    def receipts(self, hashes: list[str]) -> dict[str, dict | None]:
        out: dict[str, dict | None] = {}
        for i in range(0, len(hashes), 100):
            chunk = hashes[i : i + 100]
            answers = self.rpc.batch([("eth_getTransactionReceipt", (h,)) for h in chunk])
            for h, a in zip(chunk, answers, strict=True):
                out[h] = a if isinstance(a, dict) else None
        return out

    def block_hashes(self, heights: list[int]) -> dict[int, str | None]:
        """The canonical hash at each height (None where the node has no block)."""
        out: dict[int, str | None] = {}
        for i in range(0, len(heights), 100):
            chunk = heights[i : i + 100]
            answers = self.rpc.batch([("eth_getBlockByNumber", (hex(h), False)) for h in chunk])
            for h, a in zip(chunk, answers, strict=True):
                out[h] = a.get("hash") if isinstance(a, dict) else None
        return out

    # -- gas ----------------------------------------------------------------------------------------
    def gas_for(self, count: int) -> int:
        return int(BASE_GAS + math.ceil(count * self.per_record_gas * 1.3))

    def learn_gas(self, used: int, count: int, persist: bool) -> None:
        """Raise the per-record estimate from a receipt or an estimate of a large batch."""
        per = max(0.0, (used - 21_000) / count)
        if count >= LEARN_MIN_COUNT and per > self.per_record_gas:
            self.per_record_gas = per
            if persist:
                self.meta.set(meta.FLUSH_GAS_PER_RECORD, per)

    # -- outcomes shared by the steps -----------------------------------------------------------------
    def link_error(self, state: str, detail: str = "") -> None:
        """This round hit a problem worth showing (the link is not reported online after it)."""
        self.round_error = True
        set_link(self.store, state, detail)

    def after_broadcast(self, batch_id: int, err: str | None) -> None:
        """React to what the node said to eth_sendRawTransaction (None: accepted)."""
        if err is None:
            return
        kind = err.split(":", 1)[0]
        # underpriced: a transaction with this nonce sits in the pool with higher fees: replace it
        self.outbox.note_error(batch_id, err, replace_now=kind == "underpriced")
        if kind == "nonce_low":
            self.need_reconcile = True  # mined meanwhile, or spent by another transaction
        elif kind == "funds":
            self.link_error("error: insufficient funds for gas", err)
        elif kind != "underpriced":
            log.warning("batch %d: broadcast refused: %s", batch_id, err)

    def batch_calldata(self, first: int, count: int) -> bytes:
        """The commitBatch calldata of stored proofs [first, first + count)."""
        leaves = [proof.Leaf(self.till, *x) for x in self.reads.leaves(first, count)]
        return self.mining.commit_calldata(first, proof.encode_records(leaves))


def as_fees(row: Any) -> Fees:
    return Fees(row["max_fee"], row["priority_fee"])
