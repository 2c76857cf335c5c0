"""Every vector of /work/shared/vectors.json against posd.proof (and the contract where it applies)."""

from __future__ import annotations

import json
from pathlib import Path

import boa
import pytest
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak, to_checksum_address
from helpers.chainfixtures import deploy

from posd import proof
from posd.proof.claimcode import ClaimPayload, QrError, address_of, claim_key

ROOT = Path(__file__).resolve().parents[2]
# The committed copy is what the suite checks; the shared page beside the repository (when this
# checkout has it) must be identical to it, so a change to DESIGN's vectors is never missed.
LOCAL_COPY = ROOT / "tests" / "vectors.json"
SHARED = ROOT.parent / "shared" / "vectors.json"


def _load() -> dict:
    if not LOCAL_COPY.exists():
        raise FileNotFoundError(f"{LOCAL_COPY}: the committed test vectors are missing")
    return json.loads(LOCAL_COPY.read_text())


SECTIONS = {
    "till_key",
    "claim_seed",
    "claim_keys",
    "leaves",
    "merkle",
    "claim_digest",
    "qr",
    "batch_digest",
    "qr_rejects",
    "join_store",
    "member_pass",
    "payment_uri",
}


def test_committed_vectors_are_whole_and_match_the_shared_page() -> None:
    local = json.loads(LOCAL_COPY.read_text())
    assert SECTIONS <= set(local), f"sections missing: {sorted(SECTIONS - set(local))}"
    if SHARED.exists():  # a checkout beside ../shared: the copy must not drift from DESIGN's page
        assert json.loads(SHARED.read_text()) == local, f"{LOCAL_COPY} differs from {SHARED}"


V = _load()
H = bytes.fromhex


def hx(text: str) -> bytes:
    return H(text.removeprefix("0x"))


# The vectors' EIP-712 domain, written out here so eth-account checks posd.proof independently.
DOMAIN = {
    "name": "DSG Mining",
    "version": "1",
    "chainId": V["chain_id"],
    "verifyingContract": V["contract"],
}


def _typed(message_types: dict, message_data: dict) -> SignableMessage:
    """eth-account's encoding of one message in the vectors' domain."""
    return encode_typed_data(
        domain_data=DOMAIN, message_types=message_types, message_data=message_data
    )


def _typed_hash(msg: SignableMessage) -> bytes:
    return keccak(b"\x19" + msg.version + msg.header + msg.body)


def test_till_address():
    assert address_of(hx(V["till_key"])) == V["till"]


@pytest.mark.parametrize("vec", V["claim_keys"], ids=lambda v: f"seq{v['seq']}")
def test_claim_keys(vec):
    key = claim_key(hx(V["claim_seed"]), V["till"], vec["seq"])
    assert key == hx(vec["claim_key"])
    assert address_of(key) == vec["claim_address"]


@pytest.mark.parametrize("vec", V["leaves"], ids=lambda v: f"seq{v['seq']}")
def test_leaf_hashes(vec):
    leaf = proof.Leaf(vec["till"], vec["seq"], vec["amount"], vec["time"], vec["claimAddress"])
    assert proof.leaf_hash(leaf) == hx(vec["leaf"])
    rec = proof.encode_record(leaf.amount, leaf.time, leaf.claim_address)
    assert len(rec) == 30
    assert proof.decode_records(leaf.till, leaf.seq, rec) == [leaf]


def _merkle_ids(v):
    return f"first{v['firstSeq']}-n{v['count']}"


@pytest.mark.parametrize("vec", V["merkle"], ids=_merkle_ids)
def test_merkle_vectors_python(vec):
    records = hx(vec["records"])
    leaves = proof.decode_records(V["till"], vec["firstSeq"], records)
    assert len(leaves) == vec["count"]
    assert proof.encode_records(leaves) == records
    hashes = [proof.leaf_hash(x) for x in leaves]
    root = proof.merkle_root(hashes)
    assert root == hx(vec["root"])
    proofs = proof.all_proofs(hashes)
    for i, h in enumerate(hashes):
        assert proof.verify_proof(h, proofs[i], root)
    if "proofs" in vec:
        expected = [[hx(p) for p in ps] for ps in vec["proofs"]]
        assert proofs == expected
        for i in range(len(hashes)):
            assert proof.merkle_proof(hashes, i) == expected[i]
    for key, value in vec.items():  # e.g. "proof_of_index_100"
        if key.startswith("proof_of_index_"):
            i = int(key.rsplit("_", 1)[1])
            assert proof.merkle_proof(hashes, i) == [hx(p) for p in value]
            assert proofs[i] == [hx(p) for p in value]


@pytest.fixture(scope="module")
def vector_chain():
    """The mining contract at the vectors' address on the vectors' chain id."""
    with boa.env.anchor():
        old = boa.env.evm.patch.chain_id
        boa.env.evm.patch.chain_id = V["chain_id"]
        try:
            token, mining = deploy(at=V["contract"])
            yield token, mining
        finally:
            boa.env.evm.patch.chain_id = old


@pytest.mark.contracts
@pytest.mark.parametrize("vec", V["merkle"], ids=_merkle_ids)
def test_merkle_vectors_contract(vector_chain, vec):
    _, mining = vector_chain
    assert mining.computeRoot(V["till"], vec["firstSeq"], hx(vec["records"])) == hx(vec["root"])


def test_claim_digest_and_signature():
    vec = V["claim_digest"]
    digest = proof.claim_digest(
        V["chain_id"], V["contract"], vec["till"], vec["seq"], vec["recipient"]
    )
    assert digest == hx(vec["digest"])
    key = claim_key(hx(V["claim_seed"]), vec["till"], vec["seq"])
    assert proof.sign_digest(key, digest) == hx(vec["signature_by_claim_key"])
    assert proof.recover_digest(digest, hx(vec["signature_by_claim_key"])) == address_of(key)
    # cross-check the hand-rolled EIP-712 hashing against eth-account
    msg = _typed(
        {
            "Claim": [
                {"name": "till", "type": "address"},
                {"name": "seq", "type": "uint64"},
                {"name": "recipient", "type": "address"},
            ]
        },
        {"till": vec["till"], "seq": vec["seq"], "recipient": vec["recipient"]},
    )
    assert _typed_hash(msg) == digest
    signed = Account.sign_message(msg, key)
    assert bytes(signed.signature) == hx(vec["signature_by_claim_key"])


def test_batch_digest_and_signature():
    vec = V["batch_digest"]
    records = hx(vec["records"])
    assert keccak(records) == hx(vec["leavesHash"])
    digest = proof.batch_digest(V["chain_id"], V["contract"], vec["till"], vec["firstSeq"], records)
    assert digest == hx(vec["digest"])
    assert proof.sign_digest(hx(V["till_key"]), digest) == hx(vec["signature_by_till_key"])
    msg = _typed(
        {
            "Batch": [
                {"name": "till", "type": "address"},
                {"name": "firstSeq", "type": "uint64"},
                {"name": "leavesHash", "type": "bytes32"},
            ]
        },
        {"till": vec["till"], "firstSeq": vec["firstSeq"], "leavesHash": hx(vec["leavesHash"])},
    )
    assert _typed_hash(msg) == digest


@pytest.mark.contracts
def test_vector_signatures_on_contract(vector_chain):
    """At the vectors' address and chain id the contract accepts the vectors' own signatures:
    commitBatchFor with the till's batch signature, then claim with the claim-key signature."""
    token, mining = vector_chain
    with boa.env.anchor():
        bd, cd = V["batch_digest"], V["claim_digest"]
        assert mining.batchDigest(bd["till"], bd["firstSeq"], hx(bd["leavesHash"])) == hx(
            bd["digest"]
        )
        assert mining.claimDigest(cd["till"], cd["seq"], cd["recipient"]) == hx(cd["digest"])
        sid = keccak(b"Vector Shop")
        mining.registerStore(sid, boa.env.eoa, b"EUR", 10**12)
        mining.setRate(b"EUR", 10**16)
        deadline = boa.env.evm.patch.timestamp + 3600
        consent = proof.join_store_digest(V["chain_id"], V["contract"], sid, V["till"], deadline)
        mining.addTill(sid, V["till"], deadline, proof.sign_digest(hx(V["till_key"]), consent))
        relayer = boa.env.generate_address()
        with boa.env.prank(relayer):
            mining.commitBatchFor(
                bd["till"], bd["firstSeq"], hx(bd["records"]), hx(bd["signature_by_till_key"])
            )
        three = next(m for m in V["merkle"] if m["count"] == 3 and m["firstSeq"] == 1)
        assert mining.batch(V["till"], 0) == (1, 3, hx(three["root"]))
        leaf = V["leaves"][0]
        with boa.env.prank(relayer):
            mining.claim(
                leaf["till"],
                0,
                leaf["seq"],
                leaf["amount"],
                leaf["time"],
                leaf["claimAddress"],
                [hx(p) for p in three["proofs"][0]],
                cd["recipient"],
                hx(cd["signature_by_claim_key"]),
            )
        assert token.balanceOf(cd["recipient"]) == leaf["amount"] * 10**16


def test_qr_vector_and_rejects():
    q = V["qr"]
    payload = ClaimPayload.from_url(q["url"])
    assert payload.encode() == hx(q["payload"])
    assert payload.url(q["claim_base_url"]) == q["url"]
    assert (payload.chain_id, payload.contract, payload.till) == (
        V["chain_id"],
        to_checksum_address(V["contract"]),
        V["till"],
    )
    assert payload.claim_key == hx(V["claim_keys"][0]["claim_key"])
    for bad in V["qr_rejects"]:
        with pytest.raises(QrError):
            ClaimPayload.from_url(bad["url"])
