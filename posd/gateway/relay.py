"""The claim relay (DESIGN §9): check, dry-run, record, then send, in that order.

``submit`` verifies the receipt-key signature locally, refuses by the receipt's state, the store
allow-list (by the store the receipt's batch was committed under) and the minimum amount, runs
the claim as a call (``eth_estimateGas``) — so it never sends a transaction that would revert —
and only then, under the one nonce lock, checks the relayer's balance, reserves the gas in the
store's budget for the day, takes the next nonce, signs with :class:`~posd.chain.sender.Sender`
and records the claim with its raw transaction in SQLite — before broadcasting and before
answering. A repeated request finds the record and gets the same answer; a claim whose
transaction was mined but reverted (``failed``: nothing was claimed) may be tried again, and a
fresh dry run decides. Every node failure on the way is 503 ``relay_unavailable``. The background
loop (confirm, bump, drop, re-sign) is :class:`~posd.gateway.watch.ClaimWatch`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from posd import proof
from posd.chain.receipt_state import State
from posd.chain.rpc import LinkDown, RpcError
from posd.chain.sender import Sender
from posd.db.gateway import ClaimRow, GatewayDb
from posd.errors import BadInput, Conflict
from posd.gateway.budget import Budget, utc_day
from posd.gateway.chain import GatewayChain, claim_calldata, parse_address
from posd.gateway.errors import BadSignature, RelayUnavailable
from posd.gateway.lookup import IndexedReceipts
from posd.gateway.metrics import GatewayMetrics
from posd.gateway.watch import ClaimWatch, broadcast_note

log = logging.getLogger("posd.gateway.relay")

NODE_DOWN = "the node this gateway relays through is unreachable; try again in a minute"


def parse_claim(body: Any) -> tuple[str, int, str, bytes]:
    """(till, seq, recipient, signature) from a POST /api/claims body, or BadInput naming it."""
    if not isinstance(body, dict):
        raise BadInput('expected a JSON object {"till", "seq", "recipient", "signature"}')
    missing = [k for k in ("till", "seq", "recipient", "signature") if k not in body]
    if missing:
        raise BadInput(f"missing field(s): {', '.join(missing)}")
    till = parse_address(body["till"], "till")
    recipient = parse_address(body["recipient"], "recipient")
    if int(recipient, 16) == 0:
        raise BadInput("recipient: the zero address cannot receive DSG")
    seq = parse_seq(body["seq"])
    sig = body["signature"]
    if not isinstance(sig, str) or not sig.startswith("0x") or len(sig) != 132:
        raise BadInput("signature: expected 65 bytes as 0x-prefixed hex (r‖s‖v)")
    try:
        signature = bytes.fromhex(sig[2:])
    except ValueError:
        raise BadInput("signature: not hex") from None
    return till, seq, recipient, signature


def parse_seq(value: Any) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= proof.MAX_SEQ:
        raise BadInput("seq: expected a sale number 1..2^64-1")
    return value


class Relay:
    def __init__(
        self,
        db: GatewayDb,
        chain: GatewayChain,
        sender: Sender,
        receipts: IndexedReceipts,
        budget: Budget,
        metrics: GatewayMetrics,
        *,
        bump_after_s: float = 15.0,
        confirmations: int = 1,
    ) -> None:
        self.db, self.chain, self.sender = db, chain, sender
        self.receipts, self.budget, self.metrics = receipts, budget, metrics
        self.watch = ClaimWatch(
            db, chain, sender, metrics, bump_after_s=bump_after_s, confirmations=confirmations
        )
        self._receipt_locks: dict[tuple[str, int], threading.Lock] = {}
        self._locks_lock = threading.Lock()

    # -- accepting a claim ----------------------------------------------------------------------
    def submit(self, body: Any, client: str = "") -> dict[str, str]:
        till, seq, recipient, signature = parse_claim(body)
        try:
            known = self.db.claim(till, seq)
            if known is not None and known.state != "failed":
                return self._repeat(known, recipient)
            lock = self._receipt_lock(till, seq)
            with lock:  # the same receipt twice at once: the second waits and repeats the first
                known = self.db.claim(till, seq)
                if known is not None and known.state != "failed":
                    return self._repeat(known, recipient)
                try:  # a new claim, or a new try of one that reverted on chain
                    return self._accept(till, seq, recipient, signature, client)
                finally:
                    with self._locks_lock:
                        self._receipt_locks.pop((till, seq), None)
        except (LinkDown, RpcError) as exc:  # any node failure on the way: never a 500
            log.warning("event=claim_node_down till=%s seq=%d error=%s", till, seq, exc.code)
            raise RelayUnavailable(NODE_DOWN) from None

    def _receipt_lock(self, till: str, seq: int) -> threading.Lock:
        with self._locks_lock:
            return self._receipt_locks.setdefault((till, seq), threading.Lock())

    def _repeat(self, known: ClaimRow, recipient: str) -> dict[str, str]:
        if known.recipient != recipient or known.state == "dropped":
            raise Conflict(
                "this receipt is already being claimed or was claimed", "already_claimed"
            )
        self.metrics.claims.labels("repeated").inc()
        return {"tx_hash": known.tx_hash, "reward": str(known.reward)}

    def _accept(
        self, till: str, seq: int, recipient: str, signature: bytes, client: str
    ) -> dict[str, str]:
        st = self.receipts.state(till, seq)
        refusal = st.refusal()
        if refusal is not None:
            raise refusal
        assert st.state is State.CLAIMABLE and st.amount and st.claim_address
        assert st.batch_index is not None
        digest = proof.claim_digest(self.chain.chain_id(), self.chain.address, till, seq, recipient)
        try:
            signer = proof.recover_digest(digest, signature)
        except Exception:  # noqa: BLE001 - any malformed signature is simply not the right one
            signer = ""
        if signer != st.claim_address:
            raise BadSignature(
                "the signature is not the receipt key's for this till, seq and recipient"
            )
        # the store the batch was committed under pays (the till may have moved since)
        sid = self.receipts.store_of(till, st.batch_index)
        self.budget.check_receipt(sid, st.amount)
        data = claim_calldata(
            (
                till,
                st.batch_index,
                seq,
                st.amount,
                st.time,
                st.claim_address,
                st.proof,
                recipient,
                signature,
            )
        )
        gas = self.chain.estimate_claim(self.sender.address, data)  # the dry run
        fees = self.watch.market_fees()
        gas_limit = gas + gas // 5
        cost = gas_limit * fees.max_fee
        with self.watch.nonce_lock:  # budget, nonce and record: one step for concurrent claims
            day = utc_day()
            self.budget.check_spend(sid, cost, day)
            nonce = self.watch.take_nonce()
            signed = self.sender.sign(self.chain.address, data, nonce, gas_limit, fees)
            now = time.time()
            row = ClaimRow(
                till=till,
                seq=seq,
                recipient=recipient,
                reward=int(st.reward or 0),
                store_id=sid,
                state="sent",
                nonce=nonce,
                gas=gas_limit,
                max_fee=fees.max_fee,
                priority_fee=fees.priority_fee,
                tx_hash=signed.hash,
                raw_tx=signed.raw,
                data=data,
                cost_wei=cost,
                gas_used=None,
                sent_at=now,
                created_at=now,
            )
            self.db.insert_claim(row, day, client)  # recorded before sent and answered
            self.watch.used(nonce)
        # outside the lock: a node holds a later nonce until the earlier one arrives
        problem = self.watch.broadcast(signed.raw)
        log.info(
            "event=claim_accepted till=%s seq=%d recipient=%s nonce=%d tx=%s client=%s%s",
            till,
            seq,
            recipient,
            nonce,
            signed.hash,
            client,
            broadcast_note(problem),
        )
        self.metrics.claims.labels("accepted").inc()
        self.watch.after_broadcast(row, problem)
        current = self.db.claim(till, seq)  # re-signed under a fresh nonce: its new hash
        tx_hash = current.tx_hash if current is not None else signed.hash
        return {"tx_hash": tx_hash, "reward": str(st.reward or 0)}

    # -- the background loop --------------------------------------------------------------------
    def resume(self) -> int:
        """After a restart: send every recorded, unmined transaction again, in nonce order."""
        return self.watch.resume()

    def tick(self) -> None:
        self.watch.tick()
