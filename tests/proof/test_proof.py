"""posd.proof unit tests beyond the shared vectors."""

from __future__ import annotations

import os
import time

import pytest
from eth_account import Account

from posd import proof

TILL = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"


def test_decode_records_rejects_bad_length():
    with pytest.raises(ValueError, match="multiple of 30"):
        proof.decode_records(TILL, 1, b"\x00" * 31)
    assert proof.decode_records(TILL, 1, b"") == []


def test_encode_record_ranges():
    with pytest.raises(ValueError):
        proof.encode_record(2**48, 0, TILL)
    with pytest.raises(ValueError):
        proof.encode_record(0, 2**32, TILL)
    with pytest.raises(ValueError):
        proof.encode_record(0, 0, "0x1234")
    with pytest.raises(ValueError, match="consecutive"):
        proof.encode_records([proof.Leaf(TILL, 1, 1, 1, TILL), proof.Leaf(TILL, 3, 1, 1, TILL)])


def test_merkle_edge_cases():
    with pytest.raises(ValueError):
        proof.merkle_root([])
    h = [os.urandom(32) for _ in range(5)]
    with pytest.raises(IndexError):
        proof.merkle_proof(h, 5)
    assert proof.merkle_root(h[:1]) == h[0] and proof.merkle_proof(h[:1], 0) == []
    assert not proof.verify_proof(h[0], proof.merkle_proof(h, 1), proof.merkle_root(h))


def test_all_proofs_for_256_leaves_is_fast():
    leaves = [proof.Leaf(TILL, s, s, s, TILL) for s in range(1, 257)]
    start = time.perf_counter()
    hashes = [proof.leaf_hash(x) for x in leaves]
    proofs = proof.all_proofs(hashes)
    elapsed = time.perf_counter() - start
    root = proof.merkle_root(hashes)
    assert all(proof.verify_proof(h, p, root) for h, p in zip(hashes, proofs, strict=True))
    assert all(len(p) == 8 for p in proofs)
    assert elapsed < 0.5


def test_sign_digest_matches_eth_account():
    acct = Account.create()
    digest = os.urandom(32)
    sig = proof.sign_digest(bytes(acct.key), digest)
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert bytes(Account.unsafe_sign_hash(digest, acct.key).signature) == sig
    assert proof.recover_digest(digest, sig) == acct.address
    with pytest.raises(ValueError):
        proof.sign_digest(bytes(acct.key), b"short")


def test_reward_and_era():
    m = 1000
    assert [proof.era(s, m) for s in (0, 499, 500, 749, 750, 874, 875, 999)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        9,
    ]
    assert proof.reward(100, 3, 0, m) == 300
    assert proof.reward(100, 3, 500, m) == 150
    assert proof.reward(10**6, 1, 990, m) == 10
    with pytest.raises(ValueError):
        proof.era(m, m)
