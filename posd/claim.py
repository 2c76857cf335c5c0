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
from posd.claimcode import ClaimPayload
from posd.contracts import ChainError, mining_contract, send

log = logging.getLogger(__name__)


class ClaimError(RuntimeError):
    """A claim that cannot be made; ``code`` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


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
    fn = mining.functions
    count = fn.batchCount(till).call()
    next_seq = fn.nextSeq(till).call()
    if count == 0 or seq >= next_seq:
        raise ClaimError(
            "not_committed",
            f"sale {seq} of till {till} is not on chain yet (the till has committed up to seq "
            f"{next_seq - 1}); try again later",
        )
    lo, hi = 0, count - 1  # binary search on firstSeq: the last batch starting at or before seq
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fn.batch(till, mid).call()[0] <= seq:
            lo = mid
        else:
            hi = mid - 1
    first_seq, n, root = fn.batch(till, lo).call()
    if not first_seq <= seq < first_seq + n:
        raise ClaimError("not_committed", f"seq {seq} is in no committed batch of till {till}")
    event = mining.events.BatchCommitted()
    logs = event.get_logs(argument_filters={"till": till}, from_block=from_block, to_block="latest")
    for entry in logs:
        if entry["args"]["batchIndex"] == lo:
            if bytes(entry["args"]["root"]) != bytes(root):
                continue  # a log from a reorged-out block; keep looking
            return CommittedBatch(
                index=lo,
                first_seq=first_seq,
                count=n,
                root=bytes(root),
                tx_hash=entry["transactionHash"].to_0x_hex(),
                block_number=entry["blockNumber"],
            )
    raise ClaimError(
        "no_event",
        f"batch {lo} of till {till} has no BatchCommitted log from block {from_block} on "
        "(does the RPC keep old logs? try --from-block)",
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
    func, args = mining.decode_function_input(tx["input"])
    if func.fn_name == "commitBatch":
        till = tx["from"]
    elif func.fn_name == "commitBatchFor":
        till = args["till"]
    else:
        raise ClaimError("undecodable", f"transaction {tx_hash} calls {func.fn_name}, not a commit")
    return to_checksum_address(till), int(args["firstSeq"]), bytes(args["leaves"])


def prepare_claim(
    w3: Web3, payload: ClaimPayload, recipient: str, *, from_block: int = 0
) -> PreparedClaim:
    """Check the claim can succeed and build its arguments (signed by the claim key)."""
    recipient = to_checksum_address(recipient)
    mining = check_target(w3, payload)
    till = to_checksum_address(payload.till)
    if mining.functions.isClaimed(till, payload.seq).call():
        raise ClaimError(
            "already_claimed", f"sale {payload.seq} of till {till} was already claimed"
        )
    batch = find_batch(w3, mining, till, payload.seq, from_block)
    tx_till, first_seq, records = records_from_tx(w3, mining, batch.tx_hash)
    if tx_till != till or first_seq != batch.first_seq:
        raise ClaimError(
            "undecodable", f"transaction {batch.tx_hash} does not hold batch {batch.index}"
        )
    leaves = proof.decode_records(till, first_seq, records)
    hashes = [proof.leaf_hash(x) for x in leaves]
    if proof.merkle_root(hashes) != batch.root:
        raise ClaimError("bad_root", f"records of {batch.tx_hash} do not give the stored root")
    index = payload.seq - first_seq
    leaf = leaves[index]
    if leaf.claim_address != payload.claim_address:
        raise ClaimError(
            "wrong_key",
            "this receipt's claim key does not match the sale committed on chain (a reprint "
            "from another till database?)",
        )
    if leaf.amount == 0:
        raise ClaimError("nothing_to_claim", f"sale {payload.seq} was refunded: nothing to claim")
    if leaf.amount != payload.amount:
        log.warning(
            "receipt says amount %d, chain says %d: the chain wins", payload.amount, leaf.amount
        )
    digest = proof.claim_digest(payload.chain_id, mining.address, till, leaf.seq, recipient)
    return PreparedClaim(
        till=till,
        batch_index=batch.index,
        seq=leaf.seq,
        amount=leaf.amount,
        time=leaf.time,
        claim_address=leaf.claim_address,
        proof=proof.merkle_proof(hashes, index),
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
        code = {"AlreadyClaimed": "already_claimed", "Paused": "paused"}.get(exc.reason or "")
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
