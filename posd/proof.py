"""Purchase proofs, batch records, Merkle trees and EIP-712 digests (DESIGN §2–§4).

One implementation for the daemon, the flusher and the shopper's claim client; tests check it
against /work/shared/vectors.json and against the mining contract itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coincurve import PrivateKey
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

RECORD_SIZE = 30
MAX_BATCH = 256
MAX_AMOUNT = (1 << 48) - 1
MAX_TIME = (1 << 32) - 1
MAX_SEQ = (1 << 64) - 1

EIP712_NAME = "DSG Mining"
EIP712_VERSION = "1"
_DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
CLAIM_TYPEHASH = keccak(b"Claim(address till,uint64 seq,address recipient)")
BATCH_TYPEHASH = keccak(b"Batch(address till,uint64 firstSeq,bytes32 leavesHash)")


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


# ------------------------------------------------------------------ Merkle tree


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative node hash, as OpenZeppelin's MerkleProof expects."""
    return keccak(a + b) if a < b else keccak(b + a)


def merkle_levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """All levels, leaves first, root last; an odd last node is carried up unchanged."""
    if not hashes:
        raise ValueError("a Merkle tree needs at least one leaf")
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [hash_pair(cur[i], cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    return merkle_levels(hashes)[-1][0]


def _proof_from_levels(levels: list[list[bytes]], index: int) -> list[bytes]:
    proof = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):  # a carried-up odd node has no sibling on this level
            proof.append(level[sibling])
        index >>= 1
    return proof


def merkle_proof(hashes: Sequence[bytes], index: int) -> list[bytes]:
    if not 0 <= index < len(hashes):
        raise IndexError(f"leaf index {index} outside 0..{len(hashes) - 1}")
    return _proof_from_levels(merkle_levels(hashes), index)


def all_proofs(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every leaf's proof, building the levels once (256 leaves: a few milliseconds)."""
    levels = merkle_levels(hashes)
    return [_proof_from_levels(levels, i) for i in range(len(hashes))]


def verify_proof(leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    node = leaf_hash
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


# ------------------------------------------------------------------ EIP-712 (DESIGN §3, §4)


def domain_separator(chain_id: int, contract: str) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                _DOMAIN_TYPEHASH,
                keccak(EIP712_NAME.encode()),
                keccak(EIP712_VERSION.encode()),
                chain_id,
                _addr(contract),
            ],
        )
    )


def _typed_digest(chain_id: int, contract: str, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + domain_separator(chain_id, contract) + struct_hash)


def claim_digest(chain_id: int, contract: str, till: str, seq: int, recipient: str) -> bytes:
    """EIP-712 digest of Claim(address till,uint64 seq,address recipient)."""
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "address", "uint64", "address"],
            [CLAIM_TYPEHASH, _addr(till), seq, _addr(recipient)],
        )
    )
    return _typed_digest(chain_id, contract, struct_hash)


def batch_digest(chain_id: int, contract: str, till: str, first_seq: int, leaves: bytes) -> bytes:
    """EIP-712 digest of Batch(address till,uint64 firstSeq,bytes32 leavesHash)."""
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "address", "uint64", "bytes32"],
            [BATCH_TYPEHASH, _addr(till), first_seq, keccak(leaves)],
        )
    )
    return _typed_digest(chain_id, contract, struct_hash)


def sign_digest(private_key: bytes, digest: bytes) -> bytes:
    """65-byte r‖s‖v signature (v = 27/28, low s) of a 32-byte digest, no prefixing."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    sig = PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    return sig[:64] + bytes([sig[64] + 27])


def recover_digest(digest: bytes, signature: bytes) -> str:
    """Signer address of a 65-byte r‖s‖v signature (v = 0/1 or 27/28)."""
    from coincurve import PublicKey

    if len(signature) != 65:
        raise ValueError("signature must be 65 bytes")
    v = signature[64]
    if v >= 27:
        v -= 27
    pub = PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    return to_checksum_address(keccak(pub.format(compressed=False)[1:])[-20:])


# ------------------------------------------------------------------ reward (DESIGN §4)


def era(supply: int, max_supply: int) -> int:
    """Halving era: k while supply < max_supply * (1 - 2**-(k+1)) (integer form as on chain)."""
    if supply >= max_supply:
        raise ValueError("mining has ended")
    k = 0
    while supply >= max_supply - (max_supply >> (k + 1)):
        k += 1
    return k


def reward(amount: int, rate: int, supply: int, max_supply: int) -> int:
    """What a claim mints: amount*rate >> era, clamped to what is left below max_supply."""
    k = era(supply, max_supply)
    return min((amount * rate) >> k, max_supply - supply)
