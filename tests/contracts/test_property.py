"""Property test: the Python Merkle code and the contract agree on random batches."""

from __future__ import annotations

import boa
import pytest
from eth_utils import to_checksum_address
from helpers.chainfixtures import deploy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posd import proof

pytestmark = pytest.mark.contracts

TILL = "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"

records = st.lists(
    st.tuples(
        st.integers(0, proof.MAX_AMOUNT),
        st.integers(0, proof.MAX_TIME),
        st.binary(min_size=20, max_size=20),
    ),
    min_size=1,
    max_size=256,
)


@pytest.fixture(scope="module")
def mining():
    with boa.env.anchor():
        _, m = deploy()
        yield m


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(recs=records, first_seq=st.integers(1, 2**63), flip=st.integers(0, 255))
def test_python_root_equals_contract_root(mining, recs, first_seq, flip):
    leaves = [
        proof.Leaf(TILL, first_seq + i, amount, time, "0x" + addr.hex())
        for i, (amount, time, addr) in enumerate(recs)
    ]
    data = proof.encode_records(leaves)
    assert len(data) == 30 * len(leaves)
    hashes = [proof.leaf_hash(x) for x in leaves]
    root = proof.merkle_root(hashes)
    assert mining.computeRoot(TILL, first_seq, data) == root
    proofs = proof.all_proofs(hashes)
    for h, p in zip(hashes, proofs, strict=True):
        assert proof.verify_proof(h, p, root)
    # a changed leaf does not verify with the original's proof
    i = flip % len(leaves)
    changed = proof.Leaf(
        TILL,
        leaves[i].seq,
        (leaves[i].amount + 1) % (proof.MAX_AMOUNT + 1),
        leaves[i].time,
        leaves[i].claim_address,
    )
    assert not proof.verify_proof(proof.leaf_hash(changed), proofs[i], root)
    assert proof.decode_records(TILL, first_seq, data) == [
        proof.Leaf(TILL, x.seq, x.amount, x.time, to_checksum_address(x.claim_address))
        for x in leaves
    ]


def test_257_records_revert(mining):
    data = proof.encode_record(1, 1, TILL) * 257
    with boa.reverts("BatchTooLarge"):
        mining.computeRoot(TILL, 1, data)
    assert mining.computeRoot(TILL, 1, data[:-30]) == proof.merkle_root(
        [proof.leaf_hash(proof.Leaf(TILL, s, 1, 1, TILL)) for s in range(1, 257)]
    )
