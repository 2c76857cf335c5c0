"""The shopper's claim, from the receipt's claim URL and chain data alone (DESIGN §3, §4).

No local state and no store server: the batch holding the receipt's seq is found with the
contract's views, the committing transaction through its BatchCommitted event, and its calldata
(commitBatch or commitBatchFor) gives every record of the batch, hence the Merkle proof.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from posd import proof
from posd.chain.batch_search import Web3Batches, batch_holding, commit_log
from posd.chain.contracts import ChainError, mining_contract, send
from posd.chain.receipt_state import (
    REVERT_CODES,
    BadRoot,
    ClaimRecord,
    CommittedRecords,
    ReceiptState,
    State,
    receipt_state,
)
from posd.chain.rpc import decode_commit
from posd.errors import Conflict
from posd.proof.claimcode import ClaimPayload

log = logging.getLogger(__name__)


class ClaimError(Conflict, RuntimeError):
    """A claim that cannot be made; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code)


@dataclass(frozen=True)
class CommittedBatch:
    index: int
    first_seq: int
    count: int
    root: bytes
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class PreparedClaim:
    """Everything claim() takes, ready to send (or to hand to a relayer)."""

    till: str
    batch_index: int
    seq: int
    amount: int
    time: int
    claim_address: str
    proof: list[bytes]
    recipient: str
    signature: bytes

    def args(self) -> tuple[Any, ...]:
        return (
            self.till,
            self.batch_index,
            self.seq,
            self.amount,
            self.time,
            self.claim_address,
            self.proof,
            self.recipient,
            self.signature,
        )


@dataclass(frozen=True)
class ClaimResult:
    tx_hash: str
    reward: int
    recipient: str
    till: str
    seq: int
    batch_index: int
    gas_used: int


def check_target(w3: Web3, payload: ClaimPayload) -> Contract:
    """The URL's chain and contract must be the ones we are connected to."""
    chain_id = w3.eth.chain_id
    if chain_id != payload.chain_id:
        raise ClaimError(
            "wrong_chain",
            f"this receipt is for chain id {payload.chain_id}, but the RPC is chain id {chain_id}",
        )
    if not w3.eth.get_code(payload.contract):
        raise ClaimError(
            "wrong_contract",
            f"no contract at {payload.contract} on chain {chain_id}: wrong network or RPC?",
        )
    mining = mining_contract(w3, payload.contract)
    try:
        mining.functions.nextSeq(payload.till).call()
    except Exception as exc:  # noqa: BLE001 - any failure means it is not our contract
        raise ClaimError(
            "wrong_contract", f"{payload.contract} is not a DSG mining contract ({exc})"
        ) from exc
    return mining


def find_batch(
    w3: Web3, mining: Contract, till: str, seq: int, from_block: int = 0
) -> CommittedBatch:
    """The committed batch whose [firstSeq, firstSeq + count) holds ``seq``, and its transaction."""
    src = Web3Batches(mining)
    count = src.batch_count(till)
    next_seq = src.next_seq(till)
    if count == 0 or seq >= next_seq:
        pending = ReceiptState(State.PENDING, till, seq, next_seq=next_seq)
        raise ClaimError("pending", pending.message())
    found = batch_holding(src, till, seq, count)
    if found is None:
        raise ClaimError("pending", f"seq {seq} is in no committed batch of till {till}")
    index, b = found
    entry = commit_log(src, till, index, b.root, from_block)
    if entry is None:
        raise ClaimError(
            "no_event",
            f"batch {index} of till {till} has no BatchCommitted log from block {from_block} on "
            "(does the RPC keep old logs? try --from-block)",
        )
    return CommittedBatch(
        index=index,
        first_seq=b.first_seq,
        count=b.count,
        root=b.root,
        tx_hash=entry["tx_hash"],
        block_number=entry["block_number"],
    )


def records_from_tx(w3: Web3, mining: Contract, tx_hash: str) -> tuple[str, int, bytes]:
    """(till, firstSeq, records) decoded from a commitBatch / commitBatchFor transaction."""
    tx = w3.eth.get_transaction(tx_hash)
    if tx.get("to") is None or to_checksum_address(tx["to"]) != mining.address:
        raise ClaimError(
            "undecodable",
            f"transaction {tx_hash} did not call the mining contract directly (a relay "
            "contract?): its records cannot be read from its calldata",
        )
    try:
        return decode_commit(tx["to"], tx["from"], bytes(tx["input"]), mining.address)
    except ValueError as exc:
        raise ClaimError("undecodable", f"transaction {tx_hash} {exc}") from None


class Web3Receipts:
    """The chain through web3 as a :class:`~posd.chain.receipt_state.ReceiptSource`: what
    `posd claim` reads (no index: the batch is found with the contract's views)."""

    def __init__(self, w3: Web3, mining: Contract, from_block: int = 0) -> None:
        self.w3, self.mining, self.from_block = w3, mining, from_block
        self._found: CommittedBatch | None = None

    def next_seq(self, till: str) -> int:
        return int(self.mining.functions.nextSeq(till).call())

    def committed(self, till: str, seq: int) -> CommittedRecords | None:
        try:
            batch = find_batch(self.w3, self.mining, till, seq, self.from_block)
        except ClaimError as exc:
            if exc.code == "pending":
                return None
            raise
        tx_till, first_seq, records = records_from_tx(self.w3, self.mining, batch.tx_hash)
        if tx_till != till or first_seq != batch.first_seq:
            raise ClaimError(
                "undecodable", f"transaction {batch.tx_hash} does not hold batch {batch.index}"
            )
        self._found = batch
        return CommittedRecords(batch.index, first_seq, batch.root, records, batch.tx_hash)

    def claim_record(self, till: str, seq: int) -> ClaimRecord | None:
        """A claimed receipt's ``Claimed`` event: recipient, reward minted and transaction
        (all None when ``isClaimed`` says claimed but no log is in range)."""
        if not self.mining.functions.isClaimed(till, seq).call():
            return None
        start = self._found.block_number if self._found else self.from_block
        logs = self.mining.events.Claimed().get_logs(
            argument_filters={"till": till}, from_block=start, to_block="latest"
        )
        for e in logs:
            if int(e["args"]["seq"]) == seq:
                recipient = to_checksum_address(e["args"]["recipient"])
                return ClaimRecord(
                    recipient, int(e["args"]["reward"]), Web3.to_hex(e["transactionHash"])
                )
        return ClaimRecord(None, None, None)

    def reward(self, till: str, batch_index: int, amount: int) -> int:
        currency = self.mining.functions.batchCurrency(till, batch_index).call()
        return int(self.mining.functions.previewReward(amount, currency).call())


def state_of(w3: Web3, payload: ClaimPayload, *, from_block: int = 0) -> ReceiptState:
    """The receipt's state (pending / claimable / claimed / refunded) as the page shows it."""
    mining = check_target(w3, payload)
    till = to_checksum_address(payload.till)
    try:
        return receipt_state(Web3Receipts(w3, mining, from_block), till, payload.seq)
    except BadRoot as exc:
        raise ClaimError("bad_root", str(exc)) from exc


def prepare_claim(
    w3: Web3, payload: ClaimPayload, recipient: str, *, from_block: int = 0
) -> PreparedClaim:
    """Check the claim can succeed and build its arguments (signed by the claim key)."""
    recipient = to_checksum_address(recipient)
    st = state_of(w3, payload, from_block=from_block)
    refusal = st.refusal()
    if refusal is not None:
        raise ClaimError(refusal.code, refusal.message)
    till = st.till
    if st.claim_address != payload.claim_address:
        raise ClaimError(
            "wrong_key",
            "this receipt's claim key does not match the sale committed on chain (a reprint "
            "from another till database?)",
        )
    if st.amount != payload.amount:
        log.warning(
            "receipt says amount %d, chain says %d: the chain wins", payload.amount, st.amount
        )
    digest = proof.claim_digest(payload.chain_id, payload.contract, till, st.seq, recipient)
    return PreparedClaim(
        till=till,
        batch_index=int(st.batch_index or 0),
        seq=st.seq,
        amount=int(st.amount or 0),
        time=int(st.time or 0),
        claim_address=str(st.claim_address),
        proof=st.proof,
        recipient=recipient,
        signature=proof.sign_digest(payload.claim_key, digest),
    )


def claim(
    w3: Web3,
    account: LocalAccount,
    payload: ClaimPayload | str,
    recipient: str,
    *,
    from_block: int = 0,
) -> ClaimResult:
    """Claim the receipt's DSG for ``recipient``; ``account`` signs and pays gas (any account)."""
    if isinstance(payload, str):
        payload = ClaimPayload.from_url(payload)
    prepared = prepare_claim(w3, payload, recipient, from_block=from_block)
    mining = mining_contract(w3, payload.contract)
    try:
        receipt = send(w3, account, mining.functions.claim(*prepared.args()))
    except ChainError as exc:
        code = REVERT_CODES.get(exc.reason or "")
        raise ClaimError(code or "reverted", f"claim failed: {exc}") from exc
    events = mining.events.Claimed().process_receipt(receipt, errors=DISCARD)
    reward = int(events[0]["args"]["reward"]) if events else 0
    return ClaimResult(
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        reward=reward,
        recipient=prepared.recipient,
        till=prepared.till,
        seq=prepared.seq,
        batch_index=prepared.batch_index,
        gas_used=int(receipt["gasUsed"]),
    )
