"""Receipt lookups from the persisted index: the gateway's :class:`ReceiptSource` (§9).

The batch holding a seq comes from ``gw_batches`` (never a log scan); its records are read once
from the commit transaction's calldata (``commitBatch`` / ``commitBatchFor``) and kept in the row.
Pending (``next_seq``) and claimed (``Claimed`` events, or the relay's own confirmed claim) come
from the index too, which the background loop keeps at the confirmed head. The node is asked only
for what a batch needs once (its records, its currency) and for the reward, cached for a few
seconds per (currency, amount): a flood of lookups — distinct tills, distinct seqs — costs the
node at most one call per committed receipt amount every ``REWARD_TTL_S``, and none for a receipt
that is not committed.
"""

from __future__ import annotations

import threading
import time

from posd.chain.receipt_state import (
    ClaimRecord,
    CommittedRecords,
    IndexBehind,
    ReceiptState,
    receipt_state,
)
from posd.db.gateway import GatewayDb
from posd.gateway.chain import GatewayChain

REWARD_TTL_S = 5.0  # the era (halving) moves the reward; it never moves fast
MAX_CACHED = 10_000


class IndexedReceipts:
    """What ``receipt_state`` needs, answered from the index and a few views."""

    def __init__(self, db: GatewayDb, chain: GatewayChain) -> None:
        self.db, self.chain = db, chain
        self._currency: dict[tuple[str, int], bytes] = {}  # a batch's currency never changes
        self._rewards: dict[tuple[bytes, int], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def next_seq(self, till: str) -> int:
        return self.db.next_seq(till)

    def committed(self, till: str, seq: int) -> CommittedRecords | None:
        batch = self.db.batch_holding(till, seq)
        if batch is None:
            if seq >= self.db.next_seq(till):
                return None  # pending (or not confirmed yet): the index says so, not the node
            raise IndexBehind(  # a gap: the index started after this batch ([gateway] from_block)
                f"sale {seq} of till {till} is before what this gateway indexed; claim it from a "
                "wallet"
            )
        records = batch.records
        if records is None:
            tx = self.chain.rpc.call("eth_getTransactionByHash", batch.tx_hash)
            if tx is None:
                raise IndexBehind(f"the node does not know transaction {batch.tx_hash}")
            tx_till, first, records = self.chain.mining.commit_of(tx)
            if tx_till != till or first != batch.first_seq:
                raise IndexBehind(f"transaction {batch.tx_hash} does not hold this batch")
            self.db.set_records(till, batch.batch_index, records)
        return CommittedRecords(batch.batch_index, batch.first_seq, batch.root, records)

    def claim_record(self, till: str, seq: int) -> ClaimRecord | None:
        """Claimed once confirmed: a ``Claimed`` event in the index, or our own claim the relay
        saw ``confirmations`` deep (it may be marked a moment before the index reaches it).
        Who got the DSG, how many were minted (not today's preview: the era may have moved
        since) and the transaction — whoever sent it."""
        seen = self.db.claimed_by(till, seq)
        if seen is not None:
            return ClaimRecord(seen.recipient, seen.reward, seen.tx_hash)
        ours = self.db.claim(till, seq)
        if ours is not None and ours.state == "mined":
            return ClaimRecord(ours.recipient, ours.reward, ours.tx_hash)
        return None

    def store_of(self, till: str, batch_index: int) -> str:
        """The store the batch was committed under (from the index's ``TillAdded`` events); for
        a batch whose till joined before the index started, the till's store now."""
        batch = self.db.batch(till, batch_index)
        if batch is not None and batch.store_id:
            return batch.store_id
        return self.chain.till_store(till)

    def reward(self, till: str, batch_index: int, amount: int) -> int:
        key = (till, batch_index)
        currency = self._currency.get(key)
        if currency is None:
            currency = self.chain.batch_currency(till, batch_index)
            with self._lock:
                if len(self._currency) >= MAX_CACHED:
                    self._currency.clear()
                self._currency[key] = currency
        now = time.monotonic()
        cached = self._rewards.get((currency, amount))
        if cached is not None and now - cached[0] < REWARD_TTL_S:
            return cached[1]
        value = self.chain.preview_reward(amount, currency)
        with self._lock:
            if len(self._rewards) >= MAX_CACHED:
                self._rewards.clear()
            self._rewards[(currency, amount)] = (now, value)
        return value

    def state(self, till: str, seq: int) -> ReceiptState:
        return receipt_state(self, till, seq)
