"""The gateway's persisted index of ``BatchCommitted``, ``Claimed`` and ``TillAdded`` events (§9).

``TillAdded`` gives the store each batch was committed under (a till may move stores: its old
batches stay charged to, and allowed by, the store they were committed in).

From the mining contract's deployment block on, in bounded ``eth_getLogs`` ranges; the block it
reached is stored with the events of each range in one transaction, so a restart resumes where it
stopped. A receipt lookup reads the index and never scans the chain. The index follows the chain
only to ``head - confirmations + 1`` (``[gateway] confirmations``): a batch is claimable, and a
claim counts as made, once that deep. A reorg is noticed by the hash of the last indexed block:
the index then forgets the last ``REORG_DEPTH`` blocks and reads them again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from posd.chain.rpc import TOPIC_BATCH_COMMITTED, LinkDown, RpcError, hexint
from posd.db.gateway import GatewayDb
from posd.gateway.chain import GatewayChain

log = logging.getLogger("posd.gateway.index")

TOPIC_CLAIMED = "0x" + keccak(b"Claimed(address,uint64,address,uint256)").hex()
TOPIC_TILL_ADDED = "0x" + keccak(b"TillAdded(bytes32,address,uint64)").hex()
CURSOR = "index_block"  # the last block whose events are stored
CURSOR_HASH = "index_block_hash"
FROM_BLOCK = "index_from_block"
REORG_DEPTH = 64


def _addr(topic: str) -> str:
    return to_checksum_address("0x" + topic[-40:])


def parse_logs(logs: list[dict[str, Any]]) -> tuple[list[dict], list[dict], list[dict]]:
    """(batches, claims, tills added to a store) from raw logs of the mining contract."""
    batches, claims, tills = [], [], []
    for entry in logs:
        topics = [t.lower() for t in entry.get("topics") or []]
        if not topics:
            continue
        data = bytes.fromhex(entry["data"][2:])
        common = {
            "till": _addr(topics[1]),
            "tx_hash": entry["transactionHash"],
            "block_number": hexint(entry["blockNumber"]),
            "log_index": hexint(entry.get("logIndex") or 0),
        }
        if topics[0] == TOPIC_TILL_ADDED and len(topics) == 3:
            tills.append({**common, "till": _addr(topics[2]), "store_id": topics[1]})
        elif topics[0] == TOPIC_BATCH_COMMITTED and len(topics) == 2:
            index, first, count, root = abi_decode(["uint256", "uint64", "uint32", "bytes32"], data)
            batches.append(
                {**common, "batch_index": index, "first_seq": first, "count": count, "root": root}
            )
        elif topics[0] == TOPIC_CLAIMED and len(topics) == 3:
            seq, reward = abi_decode(["uint64", "uint256"], data)
            claims.append({**common, "seq": seq, "recipient": _addr(topics[2]), "reward": reward})
    return batches, claims, tills


def deployment_block(chain: GatewayChain, head: int) -> int:
    """The first block at which the mining contract has code (binary search, O(log n) calls);
    0 when the node cannot say (no history for old blocks)."""
    try:
        if not chain.has_code(chain.address, head):
            return head
        lo, hi = 0, head
        while lo < hi:
            mid = (lo + hi) // 2
            if chain.has_code(chain.address, mid):
                hi = mid
            else:
                lo = mid + 1
        return lo
    except RpcError:
        return 0


class EventIndex:
    """Keeps ``gw_batches`` / ``gw_claimed`` up to the chain's head; ``sync()`` is thread-safe."""

    def __init__(
        self,
        db: GatewayDb,
        chain: GatewayChain,
        max_range: int = 2000,
        from_block: int = -1,
        confirmations: int = 1,
    ) -> None:
        self.db = db
        self.chain = chain
        self.max_range = max_range
        self.from_block = from_block  # -1: find the deployment block
        self.confirmations = max(1, confirmations)
        self._lock = threading.Lock()

    @property
    def cursor(self) -> int:
        value = self.db.get(CURSOR)
        return -1 if value is None else int(value)

    def _start_block(self, head: int) -> int:
        known = self.db.get(FROM_BLOCK)
        if known is not None:
            return int(known)
        start = self.from_block if self.from_block >= 0 else deployment_block(self.chain, head)
        self.db.put(FROM_BLOCK, start)
        return start

    def _check_reorg(self, cursor: int) -> tuple[int, bool]:
        """The cursor, moved back when the block it names is no longer the chain's; and True when
        that block was read and its stored hash still holds (no need to read it again)."""
        known = self.db.get(CURSOR_HASH)
        if cursor < 0 or not known:
            return cursor, False
        block = self.chain.rpc.call("eth_getBlockByNumber", hex(cursor), False)
        if block is not None and block.get("hash") == known:
            return cursor, True
        back = max(self._start_block(cursor), cursor - REORG_DEPTH + 1)
        log.warning("event=index_reorg block=%d reindex_from=%d", cursor, back)
        self.db.forget_from(back, CURSOR)
        return back - 1, False

    def sync(self) -> int:
        """Read new events up to the confirmed head; returns the block indexed (LinkDown when
        offline)."""
        with self._lock:
            head = self.chain.block_number()
            safe = head - self.confirmations + 1
            cursor = self.cursor
            if cursor < 0:
                cursor = self._start_block(head) - 1
            checked, unchanged = self._check_reorg(cursor)
            cursor = checked
            while cursor < safe:
                start, end = cursor + 1, min(safe, cursor + self.max_range)
                logs = self.chain.rpc.call(
                    "eth_getLogs",
                    {
                        "address": self.chain.address,
                        "fromBlock": hex(start),
                        "toBlock": hex(end),
                        "topics": [[TOPIC_BATCH_COMMITTED, TOPIC_CLAIMED, TOPIC_TILL_ADDED]],
                    },
                )
                batches, claims, tills = parse_logs(logs or [])
                self.db.add_events(batches, claims, end, CURSOR, tills)
                cursor = end
            # on a quiet tick _check_reorg has just read this very block: its hash is stored
            if cursor >= 0 and not (unchanged and cursor == checked):
                block = self.chain.rpc.call("eth_getBlockByNumber", hex(cursor), False)
                if block is not None:
                    self.db.put(CURSOR_HASH, block.get("hash"))
            return cursor

    def try_sync(self) -> int | None:
        try:
            return self.sync()
        except (LinkDown, RpcError) as exc:
            log.warning("event=index_sync_failed error=%s", type(exc).__name__)
            return None
