"""The purchase proof leaf and the 30-byte batch records (DESIGN §2, §3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

RECORD_SIZE = 30
MAX_BATCH = 256
MAX_AMOUNT = (1 << 48) - 1
MAX_TIME = (1 << 32) - 1
MAX_SEQ = (1 << 64) - 1


def _addr(address: str | bytes) -> bytes:
    if isinstance(address, bytes):
        raw = address
    else:
        text = address.removeprefix("0x").removeprefix("0X")
        if len(text) != 40:
            raise ValueError(f"not an address: {address!r}")
        raw = bytes.fromhex(text)
    if len(raw) != 20:
        raise ValueError(f"not an address: {address!r}")
    return raw


@dataclass(frozen=True)
class Leaf:
    """One purchase proof: the fields the leaf hash commits to (DESIGN §2)."""

    till: str
    seq: int
    amount: int
    time: int
    claim_address: str


def leaf_hash(leaf: Leaf) -> bytes:
    """OpenZeppelin standard leaf: keccak256(keccak256(abi.encode(till, seq, amount, time, addr)))."""
    if not 0 <= leaf.seq <= MAX_SEQ:
        raise ValueError(f"seq {leaf.seq} out of uint64 range")
    if not 0 <= leaf.amount <= MAX_AMOUNT:
        raise ValueError(f"amount {leaf.amount} out of uint48 range")
    if not 0 <= leaf.time <= MAX_TIME:
        raise ValueError(f"time {leaf.time} out of uint32 range")
    inner = abi_encode(
        ["address", "uint64", "uint48", "uint32", "address"],
        [_addr(leaf.till), leaf.seq, leaf.amount, leaf.time, _addr(leaf.claim_address)],
    )
    return keccak(keccak(inner))


# ------------------------------------------------------------------ batch records (DESIGN §3)


def encode_record(amount: int, time: int, claim_address: str) -> bytes:
    """30 bytes: amount uint48 BE | time uint32 BE | claimAddress."""
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(f"amount {amount} out of uint48 range")
    if not 0 <= time <= MAX_TIME:
        raise ValueError(f"time {time} out of uint32 range")
    return amount.to_bytes(6, "big") + time.to_bytes(4, "big") + _addr(claim_address)


def encode_records(leaves: Sequence[Leaf]) -> bytes:
    """The `leaves` argument of commitBatch: records in order (the caller ensures consecutive seqs)."""
    for prev, cur in zip(leaves, leaves[1:], strict=False):
        if cur.seq != prev.seq + 1:
            raise ValueError(f"seqs not consecutive: {prev.seq} then {cur.seq}")
    return b"".join(encode_record(x.amount, x.time, x.claim_address) for x in leaves)


def decode_records(till: str, first_seq: int, data: bytes) -> list[Leaf]:
    """Inverse of encode_records; record i gets seq first_seq + i."""
    if len(data) % RECORD_SIZE:
        raise ValueError(f"batch records are {len(data)} bytes, not a multiple of {RECORD_SIZE}")
    till = to_checksum_address(_addr(till))
    out = []
    for i in range(len(data) // RECORD_SIZE):
        rec = data[i * RECORD_SIZE : (i + 1) * RECORD_SIZE]
        out.append(
            Leaf(
                till=till,
                seq=first_seq + i,
                amount=int.from_bytes(rec[0:6], "big"),
                time=int.from_bytes(rec[6:10], "big"),
                claim_address=to_checksum_address(rec[10:30]),
            )
        )
    return out
