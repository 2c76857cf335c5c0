"""The watcher of DSG payments (DESIGN §10): ``Transfer`` logs to the store's payout address.

Each poll asks the node for the latest block and, in the same round trip, for the block it
processed last: a different hash there means a reorg, and the watcher walks back through the
block hashes it kept to the fork, forgets the transfers after it (an unconfirmed transfer leaves
its request's sum) and reads again from there. New blocks are read in ``eth_getLogs`` ranges of
at most ``[dsg] max_log_range`` blocks, resuming from the cursor in SQLite after a restart or an
outage. Only transfers whose value names this till's slot are kept (another till's are none of
its business). After each change it calls ``on_poll(head_time, confirmed_upto)``: the till's
payments decide what the transfers mean; each turn of its loop, ``on_tick()`` (cheap when idle).
It knows nothing of sales.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from eth_utils import keccak, to_checksum_address

from posd.chain.rpc import LinkDown, Rpc, RpcError, address_topic, hexint
from posd.db.payments import Payments, Transfer

log = logging.getLogger("posd.chain.watch.payments")
TOPIC_TRANSFER = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
UNIT, SLOT_UNIT = 10**9, 10**6
MAX_BACKOFF_S = 5.0


class TransferWatcher:
    """Polls in its own thread (``start``/``stop``) or by hand (``poll_once``, for tests)."""

    def __init__(
        self,
        rpc: Rpc,
        payments: Payments,
        token: str,
        payout: str,
        slot: int,
        on_poll: Callable[[int, int], None],
        confirmations: int = 2,
        finalized: bool = False,
        max_log_range: int = 2000,
        poll_interval_s: float = 1.0,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.rpc, self.db, self.on_poll, self.on_tick = rpc, payments, on_poll, on_tick
        self.token, self.payout = to_checksum_address(token), to_checksum_address(payout)
        self.slot, self.confirmations, self.finalized = slot, max(confirmations, 1), finalized
        self.max_range, self.interval = max(max_log_range, 1), poll_interval_s
        self.key = f"{self.token.lower()}:{self.payout.lower()}"
        self.online: bool | None = None  # None until the first poll
        self.last_error = ""
        self.head = 0
        self._last_seen: tuple[int, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dsg-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def problem(self) -> str | None:
        """Why the watcher cannot see payments now (None: it can, or has not tried yet)."""
        return None if self.online is not False else (self.last_error or "node unreachable")

    def _run(self) -> None:
        wait = self.interval
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self.poll_once()
                wait = max(self.interval - (time.monotonic() - began), 0.0)  # a steady period
            except (LinkDown, RpcError) as exc:
                if self.online is not False:
                    log.warning("DSG watcher: %s", exc)
                self.online, self.last_error = False, str(exc)
                wait = min(max(wait * 2, self.interval), max(MAX_BACKOFF_S, self.interval))
            except Exception:  # noqa: BLE001 - the watcher must outlive a bad answer
                log.exception("DSG watcher poll failed")
                wait = max(self.interval, 1.0)
            self._tick()
            self._stop.wait(wait)

    def _tick(self) -> None:
        """Each turn, chain or no chain: e.g. the till retries writing a paid sale."""
        if self.on_tick is None:
            return
        try:
            self.on_tick()
        except Exception:  # noqa: BLE001 - the watcher must outlive its callback
            log.exception("DSG watcher: the per-turn callback failed")

    # -- one poll -------------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Read what is new up to the head; returns the number of new transfers recorded."""
        known = self.db.recent_blocks(1)
        calls: list[tuple[str, tuple]] = [("eth_getBlockByNumber", ("latest", False))]
        if known:
            calls.append(("eth_getBlockByNumber", (hex(known[0][0]), False)))
        answers = self.rpc.batch(calls)
        for a in answers:
            if isinstance(a, RpcError):
                raise a
        head = answers[0]
        if not isinstance(head, dict):
            raise LinkDown("the node has no latest block")
        number, head_hash, head_time = (
            hexint(head["number"]),
            head["hash"],
            hexint(head["timestamp"]),
        )
        rewound = False
        if known and (not isinstance(answers[1], dict) or answers[1]["hash"] != known[0][1]):
            self._rewind(number)
            rewound = True
        cursor = self.db.cursor(self.key)
        if cursor is None:  # first start: nothing before now can pay a request made after it
            cursor = number
            self.db.record(self.key, number, [(number, head_hash)], [])
        added = 0
        while cursor <= number:
            end = min(cursor + self.max_range - 1, number)
            added += self._scan(cursor, end, head if end == number else None)
            cursor = end + 1
        self.online, self.last_error, self.head = True, "", number
        confirmed_upto = self._confirmed_upto(number)
        seen = (number, head_hash)
        if added or rewound or seen != self._last_seen:
            self._last_seen = seen
            self.on_poll(head_time, confirmed_upto)
        return added

    def _confirmed_upto(self, head: int) -> int:
        if self.finalized:
            block = self.rpc.call("eth_getBlockByNumber", "finalized", False)
            return hexint(block["number"]) if isinstance(block, dict) else -1
        return head - self.confirmations + 1

    def _scan(self, first: int, last: int, last_block: dict[str, Any] | None) -> int:
        """Logs of blocks first..last (halving the range when the node finds it too large)."""
        try:
            logs = self.rpc.call(
                "eth_getLogs",
                {
                    "address": self.token,
                    "fromBlock": hex(first),
                    "toBlock": hex(last),
                    "topics": [TOPIC_TRANSFER, None, address_topic(self.payout)],
                },
            )
        except RpcError as exc:
            if last == first:
                raise
            log.info("eth_getLogs %d..%d refused (%s): halving the range", first, last, exc)
            mid = (first + last) // 2
            return self._scan(first, mid, None) + self._scan(mid + 1, last, last_block)
        if last_block is None:
            last_block = self.rpc.call("eth_getBlockByNumber", hex(last), False)
            if not isinstance(last_block, dict):
                raise LinkDown(f"the node lost block {last} while reading it")
        transfers = self._transfers(logs or [])
        blocks = {(t.block_number, t.block_hash) for t in transfers}
        blocks.add((last, last_block["hash"]))
        return self.db.record(self.key, last + 1, sorted(blocks), transfers)

    def _transfers(self, logs: list[dict[str, Any]]) -> list[Transfer]:
        mine = []
        for entry in logs:
            if entry.get("removed"):
                continue
            value = int(entry["data"], 16) if entry.get("data") not in (None, "0x") else 0
            if (value % UNIT) // SLOT_UNIT != self.slot:
                continue  # another till's slot: not ours (a rounded value is slot 0's stray)
            mine.append((entry, value))
        times = self._block_times({e["blockNumber"] for e, _ in mine if "blockTimestamp" not in e})
        out = []
        for entry, value in mine:
            number = hexint(entry["blockNumber"])
            stamp = entry.get("blockTimestamp")
            out.append(
                Transfer(
                    tx_hash=entry["transactionHash"],
                    log_index=hexint(entry["logIndex"]),
                    block_number=number,
                    block_hash=entry["blockHash"],
                    block_time=hexint(stamp) if stamp is not None else times[number],
                    sender=to_checksum_address("0x" + entry["topics"][1][-40:]),
                    value=value,
                    reference=value % UNIT,
                )
            )
        return out

    def _block_times(self, numbers: set[str]) -> dict[int, int]:
        if not numbers:
            return {}
        ordered = sorted(numbers, key=hexint)
        blocks = self.rpc.batch([("eth_getBlockByNumber", (n, False)) for n in ordered])
        out = {}
        for n, block in zip(ordered, blocks, strict=True):
            if not isinstance(block, dict):
                raise LinkDown(f"the node lost block {hexint(n)} while reading it")
            out[hexint(n)] = hexint(block["timestamp"])
        return out

    def _rewind(self, head: int) -> None:
        """Walk back through the kept block hashes to the last one still on the chain."""
        kept = self.db.recent_blocks()
        fork = kept[-1][0] - 1 if kept else head
        for i in range(0, len(kept), 32):
            chunk = [(n, h) for n, h in kept[i : i + 32]]
            asks = [("eth_getBlockByNumber", (hex(n), False)) for n, _ in chunk]
            found = self.rpc.batch(asks)
            match = next(
                (n for (n, h), b in zip(chunk, found, strict=True)
                 if isinstance(b, dict) and b.get("hash") == h),
                None,
            )  # fmt: skip
            if match is not None:
                fork = match
                break
        removed = self.db.rewind(self.key, fork)
        log.warning(
            "DSG watcher: reorg after block %d; %d transfer(s) taken out again: %s",
            fork,
            len(removed),
            ", ".join(t.tx_hash for t in removed) or "-",
        )
