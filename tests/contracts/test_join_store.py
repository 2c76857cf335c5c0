"""The till's JoinStore consent (DESIGN §4): posd.proof.join_store_digest against the shared
vector, eth-account's EIP-712 encoding and the contract's own digest and addTill."""

from __future__ import annotations

import json
from pathlib import Path

import boa
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from helpers.chainfixtures import deploy

from posd import proof

V = json.loads((Path(__file__).resolve().parents[1] / "vectors.json").read_text())
J = V["join_store"]
DOMAIN = {
    "name": "DSG Mining",
    "version": "1",
    "chainId": V["chain_id"],
    "verifyingContract": V["contract"],
}


def hx(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


JOIN_TYPES = {
    "JoinStore": [
        {"name": "storeId", "type": "bytes32"},
        {"name": "till", "type": "address"},
        {"name": "deadline", "type": "uint64"},
    ]
}


def _digest(**override) -> bytes:
    args = {
        "chain_id": V["chain_id"],
        "contract": V["contract"],
        "store_id": hx(J["store_id"]),
        "till": J["till"],
        "deadline": J["deadline"],
    } | override
    return proof.join_store_digest(**args)


def test_join_store_vector_digest_and_signature():
    """The vector's domain is the file's top-level chain_id and contract."""
    digest = _digest()
    assert digest == hx(J["digest"])
    assert J["till"] == V["till"] and J["till_key"] == V["till_key"]
    assert proof.sign_digest(hx(J["till_key"]), digest) == hx(J["signature_by_till_key"])
    assert proof.recover_digest(digest, hx(J["signature_by_till_key"])) == J["till"]


def test_join_store_digest_matches_eth_account():
    msg = encode_typed_data(
        domain_data=DOMAIN,
        message_types=JOIN_TYPES,
        message_data={"storeId": hx(J["store_id"]), "till": J["till"], "deadline": J["deadline"]},
    )
    assert keccak(b"\x19" + msg.version + msg.header + msg.body) == hx(J["digest"])
    signed = Account.sign_message(msg, hx(J["till_key"]))
    assert bytes(signed.signature) == hx(J["signature_by_till_key"])


def test_join_store_digest_binds_every_field():
    base = _digest()
    others = [
        _digest(chain_id=V["chain_id"] + 1),
        _digest(contract="0x" + "c1" * 20),
        _digest(store_id=keccak(b"another store")),
        _digest(till="0x" + "11" * 20),
        _digest(deadline=J["deadline"] + 1),
    ]
    assert len({base, *others}) == 6
    assert proof.JOIN_STORE_TYPEHASH == keccak(
        b"JoinStore(bytes32 storeId,address till,uint64 deadline)"
    )


def test_join_store_digest_rejects_a_short_store_id():
    with pytest.raises(ValueError, match="store_id"):
        _digest(store_id=b"\x01" * 31)


@pytest.fixture
def vector_mining():
    """The mining contract at the vectors' address on the vectors' chain id, with the vector's
    store registered (owned by boa's default account, the admin)."""
    with boa.env.anchor():
        old = boa.env.evm.patch.chain_id
        boa.env.evm.patch.chain_id = V["chain_id"]
        try:
            _, mining = deploy(at=V["contract"])
            mining.registerStore(hx(J["store_id"]), boa.env.generate_address(), b"EUR", 10**12)
            yield mining
        finally:
            boa.env.evm.patch.chain_id = old


@pytest.mark.contracts
def test_contract_digest_and_vector_consent(vector_mining):
    m = vector_mining
    assert m.joinStoreDigest(hx(J["store_id"]), J["till"], J["deadline"]) == hx(J["digest"])
    boa.env.evm.patch.timestamp = J["deadline"]  # the deadline itself is still valid
    m.addTill(hx(J["store_id"]), J["till"], J["deadline"], hx(J["signature_by_till_key"]))
    assert m.isTill(J["till"]) and m.tillStore(J["till"]) == hx(J["store_id"])
    assert m.consentUsed(hx(J["digest"]))


@pytest.mark.contracts
def test_contract_refuses_the_vector_consent_after_its_deadline(vector_mining):
    boa.env.evm.patch.timestamp = J["deadline"] + 1
    with boa.reverts("ConsentExpired"):
        vector_mining.addTill(
            hx(J["store_id"]), J["till"], J["deadline"], hx(J["signature_by_till_key"])
        )
    assert not vector_mining.isTill(J["till"])
