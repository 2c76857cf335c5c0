"""The relay's nonces and its background loop (DESIGN §9): confirm, re-send, bump, drop, re-sign.

One nonce sequence serves every claim: :attr:`ClaimWatch.nonce_lock` is held while a claim takes
its nonce, has its budget reserved and is recorded. ``tick`` confirms what is ``confirmations``
deep, broadcasts again what a reorg took out, bumps stuck transactions by ≥ 12.5 % and, before
each bump, re-checks ``isClaimed``: a claim someone else made is dropped and its nonce filled with a
cheap self-transfer. A broadcast the node rejects with "nonce too low" while none of the claim's
transactions is in a block means another transaction from the relayer key took the nonce: the
nonce is synced again from the node (pending) and the claim re-signed under a fresh one after a
new dry run, so it neither stays stuck nor holds up the claims after it.
"""

from __future__ import annotations

import logging
import threading
import time

from posd.chain.rpc import LinkDown, RpcError, hexint
from posd.chain.sender import FeeCapReached, Fees, Sender
from posd.db.gateway import ClaimRow, GatewayDb
from posd.errors import PosdError, Unavailable
from posd.gateway.chain import GatewayChain
from posd.gateway.index import parse_logs
from posd.gateway.metrics import GatewayMetrics

log = logging.getLogger("posd.gateway.relay")

CANCEL_GAS = 21_000
FEE_TTL_S = 1.0


def _kind(problem: str | None) -> str:
    return (problem or "").split(":", 1)[0]


def broadcast_note(problem: str | None) -> str:
    """What a log line ends with: `` broadcast_error=<kind>``, or nothing when the node took it."""
    return f" broadcast_error={_kind(problem)}" if problem else ""


class ClaimWatch:
    def __init__(
        self,
        db: GatewayDb,
        chain: GatewayChain,
        sender: Sender,
        metrics: GatewayMetrics,
        *,
        bump_after_s: float = 15.0,
        confirmations: int = 1,
    ) -> None:
        self.db, self.chain, self.sender, self.metrics = db, chain, sender, metrics
        self.bump_after_s = bump_after_s
        self.confirmations = max(1, confirmations)
        self.nonce_lock = threading.Lock()  # one nonce sequence for every concurrent claim
        self._next_nonce: int | None = None
        self._in_block: dict[tuple[str, int], int] = {}  # open claims seen in a block (number)
        self._fees: tuple[float, Fees] | None = None

    # -- nonces (call under nonce_lock) ---------------------------------------------------------
    def take_nonce(self) -> int:
        if self._next_nonce is None:
            self._next_nonce = self._synced_nonce()
        return self._next_nonce

    def used(self, nonce: int) -> None:
        self._next_nonce = nonce + 1

    def _synced_nonce(self) -> int:
        """The node's pending nonce, but never one this gateway already signed a claim with."""
        pending = self.chain.nonce(self.sender.address, "pending")
        mine = self.db.max_nonce()
        return max(pending, -1 if mine is None else mine + 1, self._next_nonce or 0)

    # -- fees and broadcasts --------------------------------------------------------------------
    def market_fees(self) -> Fees:
        now = time.monotonic()
        cached = self._fees
        if cached is not None and now - cached[0] < FEE_TTL_S:
            return cached[1]
        fees = self.sender.market_fees(self.chain.base_fee())
        self._fees = (now, fees)
        return fees

    def broadcast(self, raw: bytes) -> str | None:
        try:
            return self.sender.broadcast_many([raw])[0]
        except LinkDown as exc:  # recorded: the loop sends it again
            return f"link_down:{exc}"

    def after_broadcast(self, c: ClaimRow, problem: str | None) -> None:
        """A permanent rejection gets the claim re-signed; others are re-sent by the loop."""
        if _kind(problem) == "nonce_low":
            current = self.db.claim(c.till, c.seq)
            if current is not None and current.nonce == c.nonce:
                self.reassign(current)

    # -- after a restart ------------------------------------------------------------------------
    def resume(self) -> int:
        """Send every recorded, unmined transaction again, in nonce order."""
        open_claims = self.db.open_claims()
        if not open_claims:
            return 0
        try:
            problems = self.sender.broadcast_many([c.raw_tx for c in open_claims])
        except LinkDown:
            return len(open_claims)
        for c, problem in zip(open_claims, problems, strict=True):
            self.after_broadcast(c, problem)
        return len(open_claims)

    # -- the loop -------------------------------------------------------------------------------
    def _receipts(self, claims: list[ClaimRow]) -> dict[tuple[str, int], dict]:
        """The mined receipt of each claim's transaction under its current nonce, if any."""
        hashes = {(c.till, c.seq): self.db.attempt_hashes(c.till, c.seq, c.nonce) for c in claims}
        calls = [("eth_getTransactionReceipt", (h,)) for hs in hashes.values() for h in hs]
        answers = iter(self.chain.rpc.batch(calls))
        receipts: dict[tuple[str, int], dict] = {}
        for key, hs in hashes.items():
            for _ in hs:
                answer = next(answers)
                if isinstance(answer, dict) and answer.get("blockNumber"):
                    receipts[key] = answer
        return receipts

    def tick(self) -> None:
        """Confirm what is deep enough; re-send what a reorg took out; bump or drop what is
        stuck."""
        open_claims = self.db.open_claims()
        self.metrics.open.set(len(open_claims))
        if not open_claims:
            self._in_block.clear()
            return
        head = self.chain.block_number()
        receipts = self._receipts(open_claims)
        now = time.time()
        for c in open_claims:
            key = (c.till, c.seq)
            receipt = receipts.get(key)
            if receipt is not None:
                block = hexint(receipt["blockNumber"])
                if head - block + 1 >= self.confirmations:
                    self._in_block.pop(key, None)
                    self._finish(c, receipt)
                else:
                    self._in_block[key] = block  # mined, not deep enough: keep the raw tx
            elif key in self._in_block:
                self._resend(c, self._in_block.pop(key))
            elif now - c.sent_at >= self.bump_after_s:
                self._bump_or_drop(c)

    def _resend(self, c: ClaimRow, block: int) -> None:
        """It was in block ``block`` and is no longer: a reorg. The same transaction again (its
        nonce is free again on the new chain); a bump follows if it then gets stuck."""
        problem = self.broadcast(c.raw_tx)
        self.metrics.resent.inc()
        log.warning(
            "event=claim_reorged till=%s seq=%d nonce=%d tx=%s was_block=%d%s",
            c.till,
            c.seq,
            c.nonce,
            c.tx_hash,
            block,
            broadcast_note(problem),
        )
        self.after_broadcast(c, problem)

    def _finish(self, c: ClaimRow, receipt: dict) -> None:
        gas_used = hexint(receipt["gasUsed"])
        price = hexint(receipt.get("effectiveGasPrice") or 0)
        ok = hexint(receipt["status"]) == 1
        cancelled = (receipt.get("to") or "").lower() == self.sender.address.lower()
        state = "dropped" if cancelled else ("mined" if ok else "failed")
        _, claimed, _ = parse_logs(receipt.get("logs") or [])
        minted = claimed[0]["reward"] if state == "mined" and claimed else None
        tx_hash = receipt.get("transactionHash")
        block = hexint(receipt["blockNumber"])
        self.db.finish(c.till, c.seq, state, gas_used, block, gas_used * price, tx_hash, minted)
        self.metrics.gas_used.inc(gas_used)
        if state == "mined":
            self.metrics.mined.inc()
        log.info(
            "event=claim_%s till=%s seq=%d tx=%s gas_used=%d",
            state,
            c.till,
            c.seq,
            tx_hash,
            gas_used,
        )

    def _bump_or_drop(self, c: ClaimRow) -> None:
        market = self.market_fees()
        try:
            fees = self.sender.replacement_fees(Fees(c.max_fee, c.priority_fee), market)
        except FeeCapReached as exc:
            log.warning("event=bump_capped till=%s seq=%d reason=%s", c.till, c.seq, exc)
            return
        front_run = c.state == "sent" and self.chain.is_claimed(c.till, c.seq)
        if front_run or c.state == "dropping":
            # someone else claimed it first: fill the nonce with a self-transfer (21000 gas,
            # less than the revert would cost) so the claims after it are not held up
            signed = self.sender.sign(self.sender.address, b"", c.nonce, CANCEL_GAS, fees)
            state, kind = "dropping", "cancel"
            if front_run:  # counted once, when the claim turns to dropping
                self.metrics.dropped.inc()
        else:
            signed = self.sender.sign(self.chain.address, c.data, c.nonce, c.gas, fees)
            state, kind = "sent", "bump"
        self.db.replace_tx(
            c.till,
            c.seq,
            signed.hash,
            signed.raw,
            fees.max_fee,
            fees.priority_fee,
            state,
            kind,
            signed.gas * fees.max_fee,
        )
        problem = self.broadcast(signed.raw)
        self.metrics.bumps.inc()
        log.info(
            "event=claim_%s till=%s seq=%d nonce=%d tx=%s%s",
            kind,
            c.till,
            c.seq,
            c.nonce,
            signed.hash,
            broadcast_note(problem),
        )
        self.after_broadcast(c, problem)

    # -- a nonce another transaction took -------------------------------------------------------
    def reassign(self, c: ClaimRow) -> None:
        """A "nonce too low" for a claim none of whose transactions is in a block: another
        transaction from this key took its nonce. Sync the nonce from the node and sign the claim
        again under a fresh one — after a new dry run (the claim may have become impossible)."""
        try:
            if self._receipts([c]):
                return  # one of ours took the nonce after all: the loop confirms it
            if c.state == "dropping":  # the nonce it was to fill is filled: nothing is pending
                self.db.finish(c.till, c.seq, "dropped", 0, None, 0)
                return
            try:
                self.chain.estimate_claim(self.sender.address, c.data)
            except Unavailable:
                return  # paused, node down: the next attempt decides
            except PosdError as exc:  # already claimed by someone else, refunded, ended …
                state = "dropped" if exc.code == "already_claimed" else "failed"
                self.db.finish(c.till, c.seq, state, 0, None, 0)
                log.info("event=claim_%s till=%s seq=%d reason=%s", state, c.till, c.seq, exc.code)
                return
            fees = self.market_fees()
            with self.nonce_lock:
                nonce = self._synced_nonce()
                signed = self.sender.sign(self.chain.address, c.data, nonce, c.gas, fees)
                self.db.replace_tx(
                    c.till,
                    c.seq,
                    signed.hash,
                    signed.raw,
                    fees.max_fee,
                    fees.priority_fee,
                    "sent",
                    "renonce",
                    c.gas * fees.max_fee,
                    nonce=nonce,
                )
                self.used(nonce)
        except (LinkDown, RpcError) as exc:
            log.warning("event=renonce_failed till=%s seq=%d error=%s", c.till, c.seq, exc.code)
            return
        problem = self.broadcast(signed.raw)
        self.metrics.resent.inc()
        log.warning(
            "event=claim_renonced till=%s seq=%d old_nonce=%d nonce=%d tx=%s%s",
            c.till,
            c.seq,
            c.nonce,
            nonce,
            signed.hash,
            broadcast_note(problem),
        )
