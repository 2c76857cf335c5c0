"""A receipt's claim state, the one definition `posd claim`, the gateway and the page share (§9).

pending (not committed yet) / claimable (with its proof and reward) / claimed / refunded (a
zero-amount leaf). Where the data comes from is a :class:`ReceiptSource`: `posd claim` reads the
chain through web3 (posd/chain/claim.py), the gateway its persisted event index
(posd/gateway/lookup.py). Only proof helpers are imported here: no web3, no SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from posd import proof
from posd.errors import Conflict, Unavailable
from posd.proof.merkle import proof_from_levels

DSG = 10**18


class State(StrEnum):
    PENDING = "pending"
    CLAIMABLE = "claimable"
    CLAIMED = "claimed"
    REFUNDED = "refunded"


# The error code each non-claimable state answers a claim with (the gateway's 409s, the CLI's).
REFUSAL_CODES = {
    State.PENDING: "pending",
    State.CLAIMED: "already_claimed",
    State.REFUNDED: "refunded",
}

# What a claim's revert means, in the same codes (the gateway's answers, `posd claim`'s errors).
REVERT_CODES = {
    "AlreadyClaimed": "already_claimed",
    "NothingToClaim": "refunded",
    "MiningEnded": "mining_ended",
    "Paused": "paused",
    "BadSignature": "bad_signature",
}


class ReceiptRefused(Conflict, RuntimeError):
    """A claim that cannot be made in the receipt's state (code: pending, already_claimed, …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code)


class IndexBehind(Unavailable, RuntimeError):
    """The chain says the seq is committed but the source has not seen its batch yet."""

    code = "relay_unavailable"


class BadRoot(Unavailable, RuntimeError):
    """A batch's records do not give the root the contract stored (a reorg or a wrong RPC)."""

    code = "relay_unavailable"


@dataclass(frozen=True)
class CommittedRecords:
    """A committed batch and its records, as read from its commit transaction."""

    batch_index: int
    first_seq: int
    root: bytes
    records: bytes
    tx_hash: str = ""


@dataclass(frozen=True)
class ClaimRecord:
    """A claim that was made: its recipient, the reward it minted and its transaction (each
    None when unknown: the chain says claimed but its ``Claimed`` log is out of reach)."""

    recipient: str | None
    reward: int | None
    tx_hash: str | None


class ReceiptSource(Protocol):
    """Where a receipt's state comes from."""

    def next_seq(self, till: str) -> int: ...

    def committed(self, till: str, seq: int) -> CommittedRecords | None:
        """The batch holding ``seq`` with its records; None when it is not committed."""
        ...

    def claim_record(self, till: str, seq: int) -> ClaimRecord | None:
        """The claim of ``seq`` (the one "claimed?" check); None when it is not claimed. A
        claimed receipt shows the reward actually minted, when known, not today's preview."""
        ...

    def reward(self, till: str, batch_index: int, amount: int) -> int: ...


@dataclass(frozen=True)
class ReceiptState:
    state: State
    till: str
    seq: int
    next_seq: int | None = None
    batch_index: int | None = None
    amount: int | None = None
    time: int | None = None
    claim_address: str | None = None
    proof: list[bytes] = field(default_factory=list)
    reward: int | None = None
    recipient: str | None = None
    tx_hash: str | None = None  # the claim's transaction, when claimed and known

    def to_json(self) -> dict[str, Any]:
        """DESIGN §9's ``GET /api/receipts/{till}/{seq}`` body."""
        out: dict[str, Any] = {"state": str(self.state), "till": self.till, "seq": self.seq}
        if self.state is State.PENDING:
            out["next_seq"] = self.next_seq
            return out
        out.update(
            batch_index=self.batch_index,
            amount=self.amount,
            time=self.time,
            claim_address=self.claim_address,
            proof=["0x" + p.hex() for p in self.proof],
            reward=str(self.reward if self.reward is not None else 0),
        )
        if self.state is State.CLAIMED:
            out["recipient"] = self.recipient
            if self.tx_hash:
                out["tx_hash"] = self.tx_hash
        return out

    def message(self) -> str:
        """The same words the page shows for each state."""
        if self.state is State.PENDING:
            return (
                f"the shop has not sent sale {self.seq} to the chain yet (till {self.till} has "
                f"committed up to seq {(self.next_seq or 1) - 1}); come back later"
            )
        if self.state is State.REFUNDED:
            return f"sale {self.seq} of till {self.till} was refunded: nothing to claim"
        if self.state is State.CLAIMED:
            who = f" by {self.recipient}" if self.recipient else ""
            return f"sale {self.seq} of till {self.till} was already claimed{who}"
        return f"claimable: {(self.reward or 0) / DSG:g} DSG"

    def refusal(self) -> ReceiptRefused | None:
        """The error a claim of this receipt gets now (None when it is claimable)."""
        code = REFUSAL_CODES.get(self.state)
        return None if code is None else ReceiptRefused(code, self.message())


@lru_cache(maxsize=64)
def _batch(till: str, first_seq: int, records: bytes) -> tuple[list, list[list[bytes]]]:
    """A batch's leaves and its tree's levels, leaves' hashes first, root last (cached: a
    committed batch never changes, and a gateway looks the same batch up for each receipt)."""
    leaves = proof.decode_records(till, first_seq, records)
    return leaves, proof.merkle_levels([proof.leaf_hash(x) for x in leaves])


def receipt_state(src: ReceiptSource, till: str, seq: int) -> ReceiptState:
    """The receipt's state from ``src``; the proof is rebuilt from the batch's records."""
    batch = src.committed(till, seq)
    if batch is None:
        return ReceiptState(State.PENDING, till, seq, next_seq=src.next_seq(till))
    leaves, levels = _batch(till, batch.first_seq, batch.records)
    if levels[-1][0] != batch.root:
        raise BadRoot(
            f"the records of batch {batch.batch_index} of till {till} do not give its root"
        )
    index = seq - batch.first_seq
    leaf = leaves[index]
    common: dict[str, Any] = {
        "batch_index": batch.batch_index,
        "amount": leaf.amount,
        "time": leaf.time,
        "claim_address": leaf.claim_address,
        "proof": proof_from_levels(levels, index),
    }
    if leaf.amount == 0:
        return ReceiptState(State.REFUNDED, till, seq, reward=0, **common)
    record = src.claim_record(till, seq)
    if record is not None:  # the reward minted then, when known, not today's preview
        reward = record.reward
        if reward is None:
            reward = src.reward(till, batch.batch_index, leaf.amount)
        return ReceiptState(
            State.CLAIMED,
            till,
            seq,
            reward=reward,
            recipient=record.recipient,
            tx_hash=record.tx_hash,
            **common,
        )
    reward = src.reward(till, batch.batch_index, leaf.amount)
    return ReceiptState(State.CLAIMABLE, till, seq, reward=reward, **common)
