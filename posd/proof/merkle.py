"""Merkle trees over leaf hashes, commutative pairs as OpenZeppelin's MerkleProof (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils import keccak


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


def proof_from_levels(levels: list[list[bytes]], index: int) -> list[bytes]:
    """Leaf ``index``'s proof from levels built once (merkle_levels): no rehashing."""
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
    return proof_from_levels(merkle_levels(hashes), index)


def all_proofs(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every leaf's proof, building the levels once (256 leaves: a few milliseconds)."""
    levels = merkle_levels(hashes)
    return [proof_from_levels(levels, i) for i in range(len(hashes))]


def verify_proof(leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    node = leaf_hash
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root
