"""Exactly-once delivery of the outbox to the mining contract (DESIGN §3): batches, reconcile, reorgs.

The chain is the judge: ``nextSeq(till)`` and the till's batches on chain say what is there, and
the contract refuses a seq twice (``SeqMismatch``), so the flusher may resend whenever in doubt.
What the flusher must never do is lose a proof or accept a batch it did not sign the data of.

Local states (proofs): ``pending`` (never in a signed transaction) → ``sending`` (in a signed
transaction; with ``batch_id`` NULL it is *requeued*: that transaction was superseded, dropped for
good or reorged out, and the proof goes into a new batch with the very same leaf data — a refund can
no longer change it, as the old transaction might still land) → ``committed`` (in a canonical block)
→ ``confirmed`` (``confirmations`` deep, or finalized).

Batches (table ``batches``): ``sent`` (signed, stored, broadcast or about to be: in flight),
``committed``, ``confirmed``, ``superseded`` (its nonce/seqs went to another transaction),
``failed`` (reverted). Every signed transaction is in ``tx_attempts`` before it is broadcast.

Network I/O never happens inside a SQLite transaction; each write transaction is a few
milliseconds (signing a batch transaction is done inside one, so a refund cannot slip between
reading a proof and signing it).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from posd import proof
from posd.chain import LinkDown, MiningClient, Rpc, RpcError, hexint, is_revert
from posd.config import ChainConfig
from posd.sender import (
    GWEI,
    FeeCapReached,
    Fees,
    SenderLock,
    account_of,
    broadcast_many,
    market_fees,
    replacement_fees,
    sign,
)
from posd.store import Store

log = logging.getLogger("posd.flusher")

DAY = 86400
# Gas limit of a batch = BASE_GAS + 1.3 × count × per-record gas. BASE_GAS covers the intrinsic
# 21k and up to six cold storage writes (a till's first batch of a day); the per-record part
# (calldata, leaf hash, tree) is learnt from receipts of batches of 32+ records. Unused gas costs
# nothing; an out-of-gas revert raises the estimate by half.
BASE_GAS = 180_000
PER_RECORD_GAS = 2_000
LEARN_MIN_COUNT = 32
HALT_RETRY_S = 300  # NotTill / Paused / chain mismatch: look again every 5 minutes


class Halted(RuntimeError):
    """The flusher will not send now (cap reached, till not authorised, alert): see link state."""


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


def _now() -> float:
    return time.time()


# ------------------------------------------------------------------ link state (shared via meta)


def set_link(store: Store, state: str, detail: str = "", **extra: Any) -> None:
    """Record the link state where every process (daemon, `posd queue`) can read it."""
    old = _meta_json(store, "flush_link")
    since = old.get("since") if old.get("state") == state else _now()
    data = {"state": state, "since": since, "detail": detail, "at": _now(), **extra}
    store.set_meta("flush_link", json.dumps(data, sort_keys=True))
    if state.startswith("error") or state in ("offline", "cap_exceeded"):
        store.set_meta("flush_last_error", f"{state}: {detail}" if detail else state)
    if old.get("state") != state:
        log.log(
            logging.INFO if state == "online" else logging.WARNING,
            "chain link %s%s",
            state,
            f" ({detail})" if detail else "",
        )


def _meta_json(store: Store, key: str) -> dict[str, Any]:
    try:
        return json.loads(store.get_meta(key) or "{}")
    except ValueError:
        return {}


def link_status(store: Store) -> dict[str, Any]:
    """{"state": "online"|"offline"|"error: …"|"cap_exceeded"|"unconfigured", …} for status pages."""
    link = _meta_json(store, "flush_link") or {"state": "unknown"}
    balance = _meta_json(store, "flush_balance")
    alert = _meta_json(store, "flush_alert")
    if balance:
        link["balance"] = balance
    if alert:
        link["alert"] = alert
    return link


def queue_status(store: Store) -> dict[str, Any]:
    """Counts by state, the oldest pending age, in-flight batches, last error, link state."""
    counts = {s: 0 for s in ("pending", "sending", "committed", "confirmed")}
    for state, n in store.query("SELECT state, count(*) FROM proofs GROUP BY state"):
        counts[state] = n
    requeued = store.one(
        "SELECT count(*) FROM proofs WHERE state = 'sending' AND batch_id IS NULL"
    )[0]
    oldest = store.one("SELECT min(created_at) FROM proofs WHERE state IN ('pending', 'sending')")[
        0
    ]
    batches = dict(store.query("SELECT state, count(*) FROM batches GROUP BY state"))
    return {
        "counts": counts,
        "requeued": requeued,
        "total": sum(counts.values()),
        "oldest_pending_age_s": round(_now() - oldest, 1) if oldest else None,
        "batches": batches,
        "last_error": store.get_meta("flush_last_error") or None,
        "link": link_status(store),
    }


# ------------------------------------------------------------------ the flusher


class Flusher:
    """One till's sender. Not thread-safe: one flusher per till key, under :class:`SenderLock`."""

    def __init__(
        self,
        store: Store,
        private_key: bytes,
        chain: ChainConfig,
        *,
        pipeline: int = 16,
        rpc_timeout: float = 10.0,
    ) -> None:
        if not chain.rpc_url or not chain.mining_address:
            raise ValueError("[chain] rpc_url and mining_address must be set to flush")
        self.store = store
        self.cfg = chain
        self.account = account_of(private_key)
        self.till = self.account.address
        self.rpc = Rpc(chain.rpc_url, timeout=rpc_timeout)
        self.mining = MiningClient(self.rpc, chain.mining_address)
        self.pipeline = max(1, pipeline)
        self.cap_wei = int(chain.max_fee_gwei * GWEI)
        self.chain_id: int | None = None
        self.need_reconcile = True
        self.last_head: Head | None = None
        self.chain_next: int | None = None
        self.nonce_latest: int | None = None
        self.rounds = 0
        self.failures = 0
        self._round_error = False
        self._market: Fees | None = None
        self._last_balance_check = 0.0
        self._last_retention = 0.0
        self.per_record_gas = float(store.get_meta("flush_gas_per_record") or PER_RECORD_GAS)

    # -- one round --------------------------------------------------------------------------
    def step(self) -> StepResult:
        """Poll, confirm, reconcile when in doubt, form and send new batches. Raises LinkDown."""
        res = StepResult()
        self.rounds += 1
        self._market = None
        if self.chain_id is None:
            self.chain_id = hexint(self.rpc.call("eth_chainId"))
        head = self._head()
        if self.last_head is not None and head.number < self.last_head.number:
            log.warning(
                "the chain went back from block %d to %d: reconciling",
                self.last_head.number,
                head.number,
            )
            self.need_reconcile = True
        self.last_head = head
        if self.rounds % 20 == 0:
            self.need_reconcile = True
        blocked = self._blocked(head)
        if blocked is not None and blocked != "cap_exceeded":
            self._counts(res)  # halted (alert, not a till, paused): wait for retry_at
            return res
        self._round_error = False
        if self.need_reconcile:
            self.reconcile(head)
            res.reconciled = True
        self._poll_inflight(head, res)
        self._confirm(head, res)
        if self.need_reconcile:
            self.reconcile(head)
            res.reconciled = True
        if self._blocked(head) is None:
            self._form_and_send(head, res)
            state = _meta_json(self.store, "flush_link").get("state")
            if state != "online" and not self._round_error:
                set_link(self.store, "online")
        self._balance_check(head)
        self._retention()
        self._counts(res)
        return res

    def _link_error(self, state: str, detail: str = "") -> None:
        self._round_error = True
        set_link(self.store, state, detail)

    def _counts(self, res: StepResult) -> None:
        res.inflight = self.store.one("SELECT count(*) FROM batches WHERE state = 'sent'")[0]
        res.unbatched = self.store.one(
            "SELECT count(*) FROM proofs WHERE till = ? AND batch_id IS NULL "
            "AND state IN ('pending', 'sending')",
            (self.till,),
        )[0]
        res.unconfirmed = self.store.one(
            "SELECT count(*) FROM proofs WHERE till = ? "
            "AND state IN ('pending', 'sending', 'committed')",
            (self.till,),
        )[0]

    def _head(self) -> Head:
        blk = self.rpc.call("eth_getBlockByNumber", "latest", False)
        return Head(
            hexint(blk["number"]),
            blk["hash"],
            hexint(blk["timestamp"]),
            hexint(blk.get("baseFeePerGas") or "0x0"),
        )

    def _fees(self, head: Head) -> Fees:
        if self._market is None:
            self._market = market_fees(self.rpc, head.base_fee, self.cap_wei)
        return self._market

    # -- halts: cap, not a till, alerts ------------------------------------------------------
    def _blocked(self, head: Head) -> str | None:
        halt = _meta_json(self.store, "flush_halt")
        if not halt:
            return None
        if halt.get("kind") == "cap_exceeded":
            if head.timestamp >= int(halt["until_block_time"]):
                self._clear_halt("the UTC day rolled over (block time): trying again")
                return None
            set_link(self.store, "cap_exceeded", halt.get("detail", ""))
            return "cap_exceeded"
        if _now() >= float(halt.get("retry_at", 0)):
            self._clear_halt("retrying after a halt")
            return None
        set_link(self.store, f"error: {halt.get('detail', halt.get('kind'))}")
        return str(halt.get("kind"))

    def _halt(self, kind: str, detail: str, **extra: Any) -> None:
        data = {"kind": kind, "detail": detail, "at": _now(), **extra}
        self.store.set_meta("flush_halt", json.dumps(data, sort_keys=True))
        self.store.log_event("flush_halted", data)
        log.error("flushing stopped: %s: %s", kind, detail)
        if kind == "cap_exceeded":
            set_link(self.store, "cap_exceeded", detail)
        else:
            set_link(self.store, f"error: {detail}")

    def _clear_halt(self, why: str) -> None:
        self.store.execute("DELETE FROM meta WHERE key = 'flush_halt'")
        self.store.log_event("flush_resumed", {"why": why})
        log.info("flushing resumes: %s", why)

    def _alert(self, kind: str, detail: str, **extra: Any) -> None:
        """Something on chain this till cannot account for: stop and tell a human."""
        data = {"kind": kind, "detail": detail, "at": _now(), **extra}
        self.store.set_meta("flush_alert", json.dumps(data, sort_keys=True, default=str))
        self.store.log_event("chain_alert", data)
        self._halt("alert", f"{kind}: {detail}", retry_at=_now() + HALT_RETRY_S)

    # -- reconcile -----------------------------------------------------------------------------
    def reconcile(self, head: Head | None = None) -> None:
        """Make the outbox agree with the chain: mark what it has, requeue what it lacks."""
        head = head or self._head()
        # both read at the same block, so a block landing in between cannot split them
        chain_next = self.mining.next_seq(self.till, head.number)
        nonce_latest = hexint(self.rpc.call("eth_getTransactionCount", self.till, hex(head.number)))
        self.chain_next, self.nonce_latest = chain_next, nonce_latest
        local_max = (
            self.store.one("SELECT max(seq) FROM proofs WHERE till = ?", (self.till,))[0] or 0
        )
        if chain_next - 1 > local_max and self._local_next_seq() <= chain_next - 1:
            # the chain has seqs this till never issued (database restored from an old backup?)
            self._alert(
                "chain_ahead",
                f"the chain has seqs up to {chain_next - 1} for this till, the outbox only to "
                f"{local_max}",
            )
        self._foreign_pending(nonce_latest)
        self._demote_lost(head, chain_next, nonce_latest)
        self._locate_unmarked(chain_next)
        self._check_inflight(chain_next, nonce_latest)
        self.need_reconcile = False
        self.store.set_meta("flush_reconciled_at", _now())
        if self.store.get_meta("flush_alert") is not None:
            self.store.execute("DELETE FROM meta WHERE key = 'flush_alert'")
            self.store.log_event("chain_alert_cleared", {})

    def _foreign_pending(self, nonce_latest: int) -> None:
        """The node's pending count against the local record: say so if someone else sends."""
        pending = hexint(self.rpc.call("eth_getTransactionCount", self.till, "pending"))
        known = self.store.one(
            "SELECT max(a.nonce) FROM tx_attempts a JOIN batches b ON a.batch_id = b.id "
            "WHERE b.till = ?",
            (self.till,),
        )[0]
        expected = max(nonce_latest, (known + 1) if known is not None else 0)
        if pending > expected:
            log.warning(
                "the node holds %d transaction(s) from till %s that this outbox never signed "
                "(nonces %d..%d): is another process using the till key?",
                pending - expected,
                self.till,
                expected,
                pending - 1,
            )
            self.store.log_event(
                "foreign_pending_tx", {"from_nonce": expected, "to_nonce": pending - 1}
            )

    def _local_next_seq(self) -> int:
        try:
            return int(self.store.get_meta("next_seq") or 0)
        except ValueError:
            return 0

    def _demote_lost(self, head: Head, chain_next: int, nonce_latest: int) -> None:
        """Committed/confirmed batches the chain no longer has, or no longer in that block."""
        rows = self.store.query(
            "SELECT id, first_seq, count, nonce, block_number, block_hash, state FROM batches "
            "WHERE till = ? AND (state = 'committed' OR (state = 'confirmed' AND first_seq >= ?)) "
            "ORDER BY first_seq",
            (self.till, chain_next),
        )
        if not rows:
            return
        heights = sorted({r["block_number"] for r in rows if r["first_seq"] < chain_next})
        canon = self._block_hashes(heights)
        for r in rows:
            gone = r["first_seq"] >= chain_next
            moved = not gone and canon.get(r["block_number"]) != r["block_hash"]
            if not (gone or moved):
                continue
            with self.store.transaction() as conn:
                if gone and r["nonce"] is not None and r["nonce"] >= nonce_latest:
                    # its signed transaction is still valid as it is: send it again
                    conn.execute(
                        "UPDATE batches SET state = 'sent', sent_at = ?, block_number = NULL, "
                        "block_hash = NULL, tx_hash = NULL, batch_index = NULL, updated_at = ? "
                        "WHERE id = ?",
                        (_now(), _now(), r["id"]),
                    )
                    conn.execute(
                        "UPDATE proofs SET state = 'sending', updated_at = ? WHERE batch_id = ?",
                        (_now(), r["id"]),
                    )
                else:
                    # on chain elsewhere (locate it again) or its nonce is spent: requeue
                    conn.execute(
                        "UPDATE batches SET state = 'superseded', updated_at = ?, error = ? "
                        "WHERE id = ?",
                        (_now(), "reorged out" if gone else "block no longer canonical", r["id"]),
                    )
                    conn.execute(
                        "UPDATE proofs SET state = 'sending', batch_id = NULL, updated_at = ? "
                        "WHERE batch_id = ?",
                        (_now(), r["id"]),
                    )
                self.store.log_event(
                    "batch_reorged",
                    {
                        "batch": r["id"],
                        "first_seq": r["first_seq"],
                        "count": r["count"],
                        "was": r["state"],
                        "block": r["block_number"],
                    },
                    conn=conn,
                )
            log.warning(
                "batch %d (seqs %d..%d) left the canonical chain: sending again",
                r["id"],
                r["first_seq"],
                r["first_seq"] + r["count"] - 1,
            )

    def _block_hashes(self, heights: list[int]) -> dict[int, str | None]:
        out: dict[int, str | None] = {}
        for i in range(0, len(heights), 100):
            chunk = heights[i : i + 100]
            answers = self.rpc.batch([("eth_getBlockByNumber", (hex(h), False)) for h in chunk])
            for h, a in zip(chunk, answers, strict=True):
                out[h] = a.get("hash") if isinstance(a, dict) else None
        return out

    def _locate_unmarked(self, chain_next: int) -> None:
        """Proofs the chain has but the outbox does not know as committed: find their batch."""
        while True:
            row = self.store.one(
                "SELECT min(seq) FROM proofs WHERE till = ? AND seq < ? "
                "AND state IN ('pending', 'sending')",
                (self.till, chain_next),
            )
            seq = row[0] if row else None
            if seq is None:
                return
            index, cb = self.mining.find_batch(self.till, seq)
            leaves = self._leaves(cb.first_seq, cb.count)
            if len(leaves) != cb.count:
                self._alert(
                    "unknown_batch",
                    f"chain batch {index} (seqs {cb.first_seq}..{cb.first_seq + cb.count - 1}) "
                    "holds seqs this outbox does not have",
                )
                raise Halted("unknown batch on chain")
            root = proof.merkle_root([proof.leaf_hash(x) for x in leaves])
            if root != cb.root:
                self._alert(
                    "root_mismatch",
                    f"chain batch {index} (seqs {cb.first_seq}..{cb.first_seq + cb.count - 1}) "
                    f"has root {cb.root.hex()}, the local proofs give {root.hex()}",
                )
                raise Halted("chain batch differs from local proofs")
            where = self._find_commit(index, cb.first_seq, cb.count, "0x" + root.hex())
            self._mark_committed_from_chain(index, cb.first_seq, cb.count, root, where)

    def _leaves(self, first: int, count: int) -> list[proof.Leaf]:
        rows = self.store.query(
            "SELECT seq, amount, time, claim_address FROM proofs WHERE till = ? AND seq >= ? "
            "AND seq < ? ORDER BY seq",
            (self.till, first, first + count),
        )
        return [proof.Leaf(self.till, r[0], r[1], r[2], r[3]) for r in rows]

    def _find_commit(self, index: int, first: int, count: int, root: str) -> dict[str, Any] | None:
        """Where (block, tx) the chain committed this batch: our stored hashes, else the logs."""
        hashes = [
            r[0]
            for r in self.store.query(
                "SELECT a.tx_hash FROM tx_attempts a JOIN batches b ON a.batch_id = b.id "
                "WHERE b.first_seq = ? AND b.count = ? AND b.root = ?",
                (first, count, root),
            )
        ]
        for rc in self._receipts(hashes).values():
            if rc and hexint(rc["status"]) == 1:
                for ev in self.mining.batch_events(rc, self.till):
                    if ev["batch_index"] == index:
                        ev["gas_used"] = hexint(rc["gasUsed"])
                        return ev
        start = int(self.store.get_meta("flush_scan_from") or 0)
        for ev in self.mining.commit_logs(self.till, start):
            if ev["batch_index"] == index:
                return ev
        return None

    def _receipts(self, hashes: list[str]) -> dict[str, dict | None]:
        out: dict[str, dict | None] = {}
        for i in range(0, len(hashes), 100):
            chunk = hashes[i : i + 100]
            answers = self.rpc.batch([("eth_getTransactionReceipt", (h,)) for h in chunk])
            for h, a in zip(chunk, answers, strict=True):
                out[h] = a if isinstance(a, dict) else None
        return out

    def _mark_committed_from_chain(
        self, index: int, first: int, count: int, root: bytes, where: dict[str, Any] | None
    ) -> None:
        root_hex = "0x" + root.hex()
        now = _now()
        with self.store.transaction() as conn:
            row = (
                conn.execute(
                    "SELECT b.id FROM batches b JOIN tx_attempts a ON a.batch_id = b.id "
                    "WHERE a.tx_hash = ? AND b.first_seq = ? AND b.count = ? AND b.root = ?",
                    ((where or {}).get("tx_hash"), first, count, root_hex),
                ).fetchone()
                or conn.execute(
                    "SELECT id FROM batches WHERE till = ? AND first_seq = ? AND count = ? AND root = ? "
                    "ORDER BY id DESC LIMIT 1",
                    (self.till, first, count, root_hex),
                ).fetchone()
            )
            if row is None:
                cur = conn.execute(
                    "INSERT INTO batches(till, first_seq, count, root, state, created_at, "
                    "updated_at, error) VALUES (?, ?, ?, ?, 'committed', ?, ?, ?)",
                    (self.till, first, count, root_hex, now, now, "found on chain"),
                )
                batch_id = cur.lastrowid
            else:
                batch_id = row[0]
            conn.execute(
                "UPDATE batches SET state = 'committed', batch_index = ?, tx_hash = ?, "
                "block_number = ?, block_hash = ?, gas_used = coalesce(?, gas_used), "
                "updated_at = ? WHERE id = ?",
                (
                    index,
                    (where or {}).get("tx_hash"),
                    (where or {}).get("block_number"),
                    (where or {}).get("block_hash"),
                    (where or {}).get("gas_used"),
                    now,
                    batch_id,
                ),
            )
            # other in-flight batches over these seqs lost the race: requeue what they held
            losers = [
                x[0]
                for x in conn.execute(
                    "SELECT id FROM batches WHERE till = ? AND state = 'sent' AND id != ? "
                    "AND first_seq < ? AND first_seq + count > ?",
                    (self.till, batch_id, first + count, first),
                )
            ]
            for loser in losers:
                conn.execute(
                    "UPDATE batches SET state = 'superseded', updated_at = ?, "
                    "error = 'seqs committed by another transaction' WHERE id = ?",
                    (now, loser),
                )
                conn.execute(
                    "UPDATE proofs SET state = 'sending', batch_id = NULL, updated_at = ? "
                    "WHERE batch_id = ? AND state = 'sending'",
                    (now, loser),
                )
            conn.execute(
                "UPDATE proofs SET state = 'committed', batch_id = ?, updated_at = ? "
                "WHERE till = ? AND seq >= ? AND seq < ?",
                (batch_id, now, self.till, first, first + count),
            )
            self.store.log_event(
                "batch_found_on_chain",
                {"batch": batch_id, "index": index, "first_seq": first, "count": count},
                conn=conn,
            )

    def _check_inflight(self, chain_next: int, nonce_latest: int) -> None:
        """In-flight batches must continue the chain: nonce after nonce, seq after seq."""
        rows = self.store.query(
            "SELECT id, first_seq, count, nonce FROM batches WHERE till = ? AND state = 'sent' "
            "ORDER BY nonce, id",
            (self.till,),
        )
        exp_seq, exp_nonce, broken = chain_next, nonce_latest, False
        for r in rows:
            if not broken and r["first_seq"] == exp_seq and r["nonce"] == exp_nonce:
                exp_seq += r["count"]
                exp_nonce += 1
                continue
            if r["nonce"] < nonce_latest and r["first_seq"] >= chain_next:
                # its nonce is spent and its seqs are not on chain: did it revert?
                rc = self._receipts(self._hashes(r["id"]))
                if any(v and hexint(v["status"]) == 0 for v in rc.values()):
                    self._requeue(r["id"], "failed", "reverted")
                    broken = True
                    continue
            broken = True
            self._requeue(r["id"], "superseded", "out of order with the chain: resent")

    def _hashes(self, batch_id: int) -> list[str]:
        return [
            r[0]
            for r in self.store.query(
                "SELECT tx_hash FROM tx_attempts WHERE batch_id = ? ORDER BY created_at",
                (batch_id,),
            )
        ]

    def _requeue(self, batch_id: int, state: str, why: str) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE batches SET state = ?, error = ?, updated_at = ? WHERE id = ?",
                (state, why, _now(), batch_id),
            )
            conn.execute(
                "UPDATE proofs SET state = 'sending', batch_id = NULL, updated_at = ? "
                "WHERE batch_id = ? AND state = 'sending'",
                (_now(), batch_id),
            )
            self.store.log_event("batch_requeued", {"batch": batch_id, "why": why}, conn=conn)

    # -- in flight -----------------------------------------------------------------------------
    def _poll_inflight(self, head: Head, res: StepResult) -> None:
        rows = self.store.query(
            "SELECT id, first_seq, count, root, nonce, gas, max_fee, priority_fee, raw_tx, "
            "tx_hashes, sent_at FROM batches WHERE till = ? AND state = 'sent' ORDER BY nonce",
            (self.till,),
        )
        if not rows:
            return
        calls: list[tuple[str, tuple]] = []
        for r in rows:
            for h in json.loads(r["tx_hashes"]):
                calls.append(("eth_getTransactionReceipt", (h,)))
            calls.append(("eth_getTransactionByHash", (json.loads(r["tx_hashes"])[-1],)))
        answers = iter(self.rpc.batch(calls))
        resend: list[Any] = []
        for r in rows:
            hashes = json.loads(r["tx_hashes"])
            receipts = [next(answers) for _ in hashes]
            known = next(answers)
            rc = next((a for a in receipts if isinstance(a, dict)), None)
            if rc is not None:
                if hexint(rc["status"]) == 1:
                    self._on_committed(r, rc, res)
                else:
                    self._on_reverted(r, rc, head)
                continue
            if self.need_reconcile:
                continue  # an earlier batch reverted: the rest waits for the reconcile
            timed_out = _now() - (r["sent_at"] or 0) >= self.cfg.tx_timeout_s
            if timed_out:
                if self._replace(r, head):
                    res.replaced += 1
            elif not isinstance(known, dict):
                resend.append(r)  # dropped from the pool (or a node restart): same bytes again
        if resend:
            errors = broadcast_many(self.rpc, [bytes.fromhex(r["raw_tx"][2:]) for r in resend])
            for r, err in zip(resend, errors, strict=True):
                self._after_broadcast(r["id"], err)

    def _after_broadcast(self, batch_id: int, err: str | None) -> None:
        if err is None:
            return
        kind = err.split(":", 1)[0]
        self.store.execute(
            "UPDATE batches SET error = ?, updated_at = ? WHERE id = ?",
            (err[:300], _now(), batch_id),
        )
        if kind == "nonce_low":
            self.need_reconcile = True  # mined meanwhile, or spent by another transaction
        elif kind == "underpriced":
            # a transaction with this nonce sits in the pool with higher fees: replace at once
            self.store.execute("UPDATE batches SET sent_at = 0 WHERE id = ?", (batch_id,))
        elif kind == "funds":
            self._link_error("error: insufficient funds for gas", err)
        else:
            log.warning("batch %d: broadcast refused: %s", batch_id, err)

    def _on_committed(self, r: Any, rc: dict[str, Any], res: StepResult) -> None:
        events = self.mining.batch_events(rc, self.till)
        ev = events[0] if events else None
        if (
            ev is None
            or ev["first_seq"] != r["first_seq"]
            or ev["count"] != r["count"]
            or ("0x" + ev["root"].hex()) != r["root"]
        ):
            self._alert(
                "receipt_mismatch",
                f"batch {r['id']}: the receipt's BatchCommitted event does not match what was signed",
            )
            return
        now = _now()
        used = hexint(rc["gasUsed"])
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE batches SET state = 'committed', tx_hash = ?, block_number = ?, "
                "block_hash = ?, batch_index = ?, gas_used = ?, error = '', updated_at = ? "
                "WHERE id = ? AND state = 'sent'",
                (
                    rc["transactionHash"],
                    hexint(rc["blockNumber"]),
                    rc["blockHash"],
                    ev["batch_index"],
                    used,
                    now,
                    r["id"],
                ),
            )
            conn.execute(
                "UPDATE proofs SET state = 'committed', updated_at = ? WHERE batch_id = ?",
                (now, r["id"]),
            )
            if self.store.get_meta("flush_scan_from") is None:
                self.store.set_meta("flush_scan_from", max(0, hexint(rc["blockNumber"]) - 1), conn)
        res.committed += r["count"]
        self.failures = 0
        per = max(0.0, (used - 21_000) / r["count"])
        if r["count"] >= LEARN_MIN_COUNT and per > self.per_record_gas:
            self.per_record_gas = per
            self.store.set_meta("flush_gas_per_record", round(per, 1))

    def _on_reverted(self, r: Any, rc: dict[str, Any], head: Head) -> None:
        """Never retried blindly: ask the contract why (eth_call), then act on the reason."""
        data = self.mining.commit_calldata(r["first_seq"], self._batch_leaves_bytes(r))
        reason = None
        try:
            self.rpc.call(
                "eth_call",
                {"from": self.till, "to": self.mining.address, "data": "0x" + data.hex()},
                "latest",
            )
        except RpcError as exc:
            reason = exc.revert_reason if is_revert(exc) else None
        used = hexint(rc["gasUsed"])
        if reason is None and used >= (r["gas"] or 0):
            reason = "OutOfGas"
            self.per_record_gas *= 1.5
            self.store.set_meta("flush_gas_per_record", round(self.per_record_gas, 1))
        self._requeue(r["id"], "failed", f"reverted: {reason or 'unknown'}")
        log.warning(
            "batch %d (seqs %d..%d) reverted: %s",
            r["id"],
            r["first_seq"],
            r["first_seq"] + r["count"] - 1,
            reason,
        )
        self.failures += 1
        self._react(reason, head)
        if reason in (None, "OutOfGas") and self.failures >= 3:
            self._halt(
                "reverts",
                f"{self.failures} batches in a row reverted ({reason or 'no reason given'})",
                retry_at=_now() + HALT_RETRY_S,
            )
        self.need_reconcile = True

    def _react(self, reason: str | None, head: Head) -> None:
        if reason == "CapExceeded":
            until = (head.timestamp // DAY + 1) * DAY
            self._halt(
                "cap_exceeded",
                "the store's daily cap is reached; retrying after the UTC day rolls over",
                until_block_time=until,
            )
        elif reason in ("NotTill", "Paused", "BadLength", "BatchTooLarge", "EmptyBatch"):
            self._halt(reason, f"the contract says {reason}", retry_at=_now() + HALT_RETRY_S)
        # SeqMismatch: "already there" (or a gap) -- the reconcile sorts it out, no error.

    def _batch_leaves_bytes(self, r: Any) -> bytes:
        return proof.encode_records(self._leaves(r["first_seq"], r["count"]))

    def _replace(self, r: Any, head: Head) -> bool:
        """No receipt in time: same nonce, same data, fees raised ≥ 12.5 %."""
        old = Fees(r["max_fee"], r["priority_fee"])
        try:
            fees = replacement_fees(old, self._fees(head), self.cap_wei)
        except FeeCapReached as exc:
            self._link_error("error: fee cap", str(exc))
            self.store.execute(
                "UPDATE batches SET sent_at = ?, error = ? WHERE id = ?",
                (_now(), str(exc), r["id"]),
            )
            # still make sure the node has it
            err = broadcast_many(self.rpc, [bytes.fromhex(r["raw_tx"][2:])])[0]
            self._after_broadcast(r["id"], err)
            return False
        data = self.mining.commit_calldata(r["first_seq"], self._batch_leaves_bytes(r))
        signed = sign(
            self.account, self.chain_id or 0, self.mining.address, data, r["nonce"], r["gas"], fees
        )
        now = _now()
        with self.store.transaction() as conn:
            hashes = json.loads(r["tx_hashes"]) + [signed.hash]
            conn.execute(
                "UPDATE batches SET raw_tx = ?, tx_hashes = ?, max_fee = ?, priority_fee = ?, "
                "sent_at = ?, updated_at = ? WHERE id = ?",
                (
                    "0x" + signed.raw.hex(),
                    json.dumps(hashes),
                    fees.max_fee,
                    fees.priority_fee,
                    now,
                    now,
                    r["id"],
                ),
            )
            conn.execute(
                "INSERT OR IGNORE INTO tx_attempts(tx_hash, batch_id, nonce, max_fee, priority_fee, "
                "raw_tx, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    signed.hash,
                    r["id"],
                    r["nonce"],
                    fees.max_fee,
                    fees.priority_fee,
                    "0x" + signed.raw.hex(),
                    now,
                ),
            )
            self.store.log_event(
                "tx_replaced",
                {
                    "batch": r["id"],
                    "nonce": r["nonce"],
                    "max_fee": fees.max_fee,
                    "hash": signed.hash,
                },
                conn=conn,
            )
        log.info(
            "batch %d: no receipt after %ss, replaced (nonce %d, max fee %.2f gwei)",
            r["id"],
            self.cfg.tx_timeout_s,
            r["nonce"],
            fees.max_fee / GWEI,
        )
        err = broadcast_many(self.rpc, [signed.raw])[0]
        self._after_broadcast(r["id"], err)
        return True

    # -- confirmations ---------------------------------------------------------------------------
    def _confirm(self, head: Head, res: StepResult) -> None:
        rows = self.store.query(
            "SELECT id, count, block_number, block_hash FROM batches WHERE till = ? "
            "AND state = 'committed' ORDER BY block_number",
            (self.till,),
        )
        if not rows:
            return
        final_number: int | None = None
        if self.cfg.confirm == "finalized":
            try:
                fin = self.rpc.call("eth_getBlockByNumber", "finalized", False)
                final_number = hexint(fin["number"]) if fin else None
            except RpcError:
                final_number = None  # no finalized tag here: count blocks instead
        canon = self._block_hashes(sorted({r["block_number"] for r in rows if r["block_number"]}))
        done: list[int] = []
        for r in rows:
            if r["block_number"] is None or canon.get(r["block_number"]) != r["block_hash"]:
                self.need_reconcile = True  # reorged (or re-mined elsewhere)
                continue
            if final_number is not None:
                deep = r["block_number"] <= final_number
            else:
                deep = head.number - r["block_number"] + 1 >= self.cfg.confirmations
            if deep:
                done.append(r["id"])
                res.confirmed += r["count"]
        if done:
            now = _now()
            with self.store.transaction() as conn:
                marks = ",".join("?" * len(done))
                conn.execute(
                    f"UPDATE batches SET state = 'confirmed', updated_at = ? WHERE id IN ({marks})",
                    (now, *done),
                )
                conn.execute(
                    f"UPDATE proofs SET state = 'confirmed', updated_at = ? "
                    f"WHERE batch_id IN ({marks}) AND state = 'committed'",
                    (now, *done),
                )

    # -- forming and sending -----------------------------------------------------------------------
    def _gas_for(self, count: int) -> int:
        return int(BASE_GAS + math.ceil(count * self.per_record_gas * 1.3))

    def _form_and_send(self, head: Head, res: StepResult) -> None:
        inflight = self.store.query(
            "SELECT first_seq, count, nonce FROM batches WHERE till = ? AND state = 'sent' "
            "ORDER BY nonce",
            (self.till,),
        )
        room = self.pipeline - len(inflight)
        if room <= 0:
            return
        if inflight:
            last = inflight[-1]
            next_seq, nonce = last["first_seq"] + last["count"], last["nonce"] + 1
        else:
            next_seq = self.mining.next_seq(self.till, head.number)
            nonce = hexint(self.rpc.call("eth_getTransactionCount", self.till, hex(head.number)))
            self.chain_next, self.nonce_latest = next_seq, nonce
        first_unbatched = self.store.one(
            "SELECT min(seq) FROM proofs WHERE till = ? AND batch_id IS NULL "
            "AND state IN ('pending', 'sending')",
            (self.till,),
        )[0]
        if first_unbatched is None:
            return
        if first_unbatched != next_seq:
            if not inflight and first_unbatched > next_seq and not self._leaves(next_seq, 1):
                # the chain waits for seqs this outbox does not have: nothing can ever follow
                self._alert(
                    "seq_gap",
                    f"the chain expects seq {next_seq}, the outbox's next is {first_unbatched}",
                )
            elif first_unbatched < next_seq or not inflight:
                self.need_reconcile = True
            return  # a gap: the proofs before it are in a batch still deciding its fate
        fresh: list[tuple[int, Any]] = []
        preflight = not inflight
        for _ in range(room):
            leaves = self._unbatched(next_seq)
            if not leaves:
                break
            records = proof.encode_records(leaves)
            data = self.mining.commit_calldata(next_seq, records)
            gas = self._gas_for(len(leaves))
            if preflight:
                gas = self._preflight(data, len(leaves), head)
                if gas is None:
                    return
                preflight = False
            fees = self._fees(head).at_least(self._reuse_floor(nonce))
            if fees.max_fee > self.cap_wei:
                self._link_error("error: fee cap", "nonce reuse needs fees above max_fee_gwei")
                break
            batch = self._sign_and_store(next_seq, leaves, records, data, nonce, gas, fees)
            if batch is None:
                break  # the proofs changed under us (refund): next round
            fresh.append(batch)
            res.formed += len(leaves)
            next_seq += len(leaves)
            nonce += 1
        if fresh:
            errors = broadcast_many(self.rpc, [raw for _, raw in fresh])
            for (batch_id, _), err in zip(fresh, errors, strict=True):
                self._after_broadcast(batch_id, err)

    def _unbatched(self, first: int) -> list[proof.Leaf]:
        rows = self.store.query(
            "SELECT seq, amount, time, claim_address FROM proofs WHERE till = ? AND seq >= ? "
            "AND batch_id IS NULL AND state IN ('pending', 'sending') ORDER BY seq LIMIT ?",
            (self.till, first, self.cfg.max_batch),
        )
        out: list[proof.Leaf] = []
        for r in rows:
            if r[0] != first + len(out):
                break
            out.append(proof.Leaf(self.till, r[0], r[1], r[2], r[3]))
        return out

    def _preflight(self, data: bytes, count: int, head: Head) -> int | None:
        """eth_estimateGas of the first batch: a revert here costs nothing (no gas spent)."""
        try:
            est = hexint(
                self.rpc.call(
                    "eth_estimateGas",
                    {"from": self.till, "to": self.mining.address, "data": "0x" + data.hex()},
                )
            )
        except RpcError as exc:
            reason = exc.revert_reason if is_revert(exc) else None
            if reason == "SeqMismatch":
                self.need_reconcile = True
            elif reason is not None:
                self._react(reason, head)
            elif "insufficient funds" in exc.message.lower():
                self._link_error("error: insufficient funds for gas", exc.message)
            else:
                self._link_error(f"error: {exc.message}")
            return None
        per = max(0.0, (est - 21_000) / count)
        if count >= LEARN_MIN_COUNT and per > self.per_record_gas:
            self.per_record_gas = per
        return max(int(est * 1.25) + 20_000, self._gas_for(count))

    def _reuse_floor(self, nonce: int) -> Fees:
        """A nonce given up by a superseded batch may still sit in the pool: outbid it."""
        row = self.store.one(
            "SELECT max(max_fee), max(priority_fee) FROM tx_attempts WHERE nonce = ? "
            "AND batch_id IN (SELECT id FROM batches WHERE till = ?)",
            (nonce, self.till),
        )
        if not row or row[0] is None:
            return Fees(0, 0)
        return Fees(row[0], row[1]).bumped()

    def _sign_and_store(
        self,
        first: int,
        leaves: list[proof.Leaf],
        records: bytes,
        data: bytes,
        nonce: int,
        gas: int,
        fees: Fees,
    ) -> tuple[int, bytes] | None:
        """Persist the signed transaction and its hash, and bind the proofs, in one transaction."""
        root = "0x" + proof.merkle_root([proof.leaf_hash(x) for x in leaves]).hex()
        last = first + len(leaves) - 1
        with self.store.transaction() as conn:
            rows = conn.execute(
                "SELECT seq, amount, time, claim_address FROM proofs WHERE till = ? AND seq >= ? "
                "AND seq <= ? AND batch_id IS NULL AND state IN ('pending', 'sending') ORDER BY seq",
                (self.till, first, last),
            ).fetchall()
            if [tuple(r) for r in rows] != [
                (x.seq, x.amount, x.time, x.claim_address) for x in leaves
            ]:
                return None
            signed = sign(
                self.account, self.chain_id or 0, self.mining.address, data, nonce, gas, fees
            )
            now = _now()
            raw_hex = "0x" + signed.raw.hex()
            cur = conn.execute(
                "INSERT INTO batches(till, first_seq, count, root, state, nonce, gas, max_fee, "
                "priority_fee, raw_tx, tx_hashes, sent_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'sent', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.till,
                    first,
                    len(leaves),
                    root,
                    nonce,
                    gas,
                    fees.max_fee,
                    fees.priority_fee,
                    raw_hex,
                    json.dumps([signed.hash]),
                    now,
                    now,
                    now,
                ),
            )
            batch_id = int(cur.lastrowid)
            conn.execute(
                "INSERT INTO tx_attempts(tx_hash, batch_id, nonce, max_fee, priority_fee, raw_tx, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (signed.hash, batch_id, nonce, fees.max_fee, fees.priority_fee, raw_hex, now),
            )
            conn.execute(
                "UPDATE proofs SET state = 'sending', batch_id = ?, updated_at = ? "
                "WHERE till = ? AND seq >= ? AND seq <= ?",
                (batch_id, now, self.till, first, last),
            )
        return batch_id, signed.raw

    # -- balance and retention ---------------------------------------------------------------------
    def _balance_check(self, head: Head, every_s: float = 60.0) -> None:
        if _now() - self._last_balance_check < every_s:
            return
        self._last_balance_check = _now()
        balance = hexint(self.rpc.call("eth_getBalance", self.till, "latest"))
        fees = self._fees(head)
        seen = self.store.one(
            "SELECT avg(gas_used) FROM (SELECT gas_used FROM batches WHERE gas_used IS NOT NULL "
            "ORDER BY id DESC LIMIT 20)"
        )[0]
        gas = int(seen) if seen else self._gas_for(self.cfg.max_batch)
        per_batch = gas * max(fees.max_fee, 1)
        batches_left = balance // per_batch
        low = batches_left < self.cfg.low_balance_batches
        old = _meta_json(self.store, "flush_balance")
        data = {
            "balance_wei": str(balance),
            "batches_left": int(batches_left),
            "low": low,
            "at": _now(),
        }
        self.store.set_meta("flush_balance", json.dumps(data, sort_keys=True))
        if low and not old.get("low"):
            log.warning(
                "till %s gas balance %.6f covers only %d batches (warn below %d): top it up",
                self.till,
                balance / 10**18,
                batches_left,
                self.cfg.low_balance_batches,
            )
            self.store.log_event("low_balance", data)

    def _retention(self, every_s: float = 3600.0) -> None:
        """Confirmed proofs older than retention_days go (sales rows and batches stay)."""
        if _now() - self._last_retention < every_s or self.cfg.retention_days <= 0:
            return
        self._last_retention = _now()
        cutoff = _now() - self.cfg.retention_days * DAY
        while True:
            with self.store.transaction() as conn:
                n = conn.execute(
                    "DELETE FROM proofs WHERE seq IN (SELECT seq FROM proofs WHERE "
                    "state = 'confirmed' AND updated_at < ? LIMIT 2000)",
                    (cutoff,),
                ).rowcount
            if n < 2000:
                return


# ------------------------------------------------------------------ one-shot API for the CLI


def backoff_delays(base: float = 1.0, cap: float = 60.0) -> Callable[[int], float]:
    """Exponential backoff with full jitter: attempt n waits up to min(cap, base·2ⁿ)."""

    def delay(attempt: int) -> float:
        return random.uniform(base / 2, min(cap, base * (2**attempt)))

    return delay


def flush_once(flusher: Flusher) -> StepResult:
    """One round (poll, confirm, reconcile if needed, send); LinkDown marks the link offline."""
    try:
        return flusher.step()
    except LinkDown as exc:
        set_link(flusher.store, "offline", str(exc))
        raise


def flush_all(
    flusher: Flusher,
    *,
    progress: Callable[[int, int], None] | None = None,
    wait_confirmed: bool = False,
    timeout: float | None = None,
    poll_s: float = 0.2,
    mine: Callable[[], None] | None = None,
) -> StepResult:
    """Send until nothing is left to send (and, if asked, until all is confirmed).

    ``progress(done, total)`` counts proofs out of the outbox's hands (committed or confirmed)
    among those outstanding at the start. Offline, it retries with backoff until ``timeout``.
    """
    store = flusher.store
    start = store.one(
        "SELECT count(*) FROM proofs WHERE till = ? AND state IN ('pending', 'sending')",
        (flusher.till,),
    )[0]
    total = max(start, 1)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = backoff_delays()
    attempt = 0
    res = StepResult()
    while True:
        try:
            res = flush_once(flusher)
            attempt = 0
        except LinkDown:
            attempt += 1
            wait = delay(attempt)
            if deadline is not None and time.monotonic() + wait > deadline:
                raise
            time.sleep(wait)
            continue
        if progress is not None:
            left = store.one(
                "SELECT count(*) FROM proofs WHERE till = ? AND state IN ('pending', 'sending')",
                (flusher.till,),
            )[0]
            progress(max(0, start - left), total)
        halt = _meta_json(store, "flush_halt")
        if halt:
            raise Halted(halt.get("detail", halt.get("kind", "halted")))
        if res.idle and (not wait_confirmed or res.unconfirmed == 0):
            return res
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(
                f"flush did not finish in {timeout}s ({res.inflight} batches in flight, "
                f"{res.unbatched} proofs waiting, {res.unconfirmed} unconfirmed)"
            )
        if res.idle and mine is not None:
            mine()
        if res.formed == 0 and res.committed == 0:
            time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    """`python -m posd.flusher`: flush a state dir's outbox under the sender lock, to the end."""
    import argparse

    from posd import keys as keyfile

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--key-file", type=Path, required=True)
    ap.add_argument("--rpc", required=True)
    ap.add_argument("--mining", required=True)
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--pipeline", type=int, default=16)
    ap.add_argument("--confirmations", type=int, default=1)
    ap.add_argument("--tx-timeout", type=int, default=30)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    keys = keyfile.load(args.key_file)
    cfg = ChainConfig(
        rpc_url=args.rpc,
        mining_address=to_checksum_address(args.mining),
        max_batch=args.max_batch,
        confirmations=args.confirmations,
        tx_timeout_s=args.tx_timeout,
    )
    store = Store(args.db)
    with SenderLock(args.db.parent):
        print("flushing", flush=True)
        flush_all(Flusher(store, keys.private_key, cfg, pipeline=args.pipeline), timeout=600)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
