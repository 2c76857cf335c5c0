"""The membership pass codec (DESIGN §11) against tests/vectors.json's ``member_pass``, and every
way a pass is refused: layout, strict base64url, signature, high s, v, chain, contract, time."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from posd.proof.claimcode import SECP256K1_N
from posd.proof.memberpass import (
    PASS_CHARS,
    BadPass,
    MemberPass,
    PassExpired,
    WrongChain,
    check,
    member_digest,
)

V = json.loads((Path(__file__).parents[1] / "vectors.json").read_text())["member_pass"]
KEY = bytes.fromhex(V["member_key"][2:])
NOW = V["valid_until"] - 300  # five minutes before the vector's pass expires


def _b64(data: bytes) -> str:
    return "dsgm1:" + base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload() -> bytes:
    return bytes.fromhex(V["payload"][2:])


def test_vector_digest_signature_payload_and_text() -> None:
    digest = member_digest(V["chain_id"], V["staking"], V["member"], V["valid_until"])
    assert "0x" + digest.hex() == V["digest"]
    made = MemberPass.sign(KEY, V["chain_id"], V["staking"], V["valid_until"])
    assert made.member == V["member"]
    assert "0x" + made.signature.hex() == V["signature"]
    assert "0x" + made.payload().hex() == V["payload"]
    assert made.text() == V["pass"] and len(V["pass"]) == PASS_CHARS == 168


def test_vector_decodes_and_verifies() -> None:
    p = check(V["pass"], V["chain_id"], V["staking"], NOW)
    assert (p.member, p.valid_until, p.chain_id, p.staking) == (
        V["member"],
        V["valid_until"],
        V["chain_id"],
        V["staking"],
    )
    assert V["signature"][2:] not in repr(p) and "signature" not in repr(p)


def test_digest_is_eip712_as_eth_account_encodes_it() -> None:
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Member": [
                    {"name": "member", "type": "address"},
                    {"name": "validUntil", "type": "uint64"},
                ],
            },
            "primaryType": "Member",
            "domain": {
                "name": "DSG Staking",
                "version": "1",
                "chainId": V["chain_id"],
                "verifyingContract": V["staking"],
            },
            "message": {"member": V["member"], "validUntil": V["valid_until"]},
        }
    )
    assert (
        keccak(b"\x19" + message.version + message.header + message.body).hex() == V["digest"][2:]
    )
    signed = Account.sign_message(message, KEY)
    assert signed.signature.hex().removeprefix("0x") == V["signature"][2:]


@pytest.mark.parametrize("cut", [-1, +1])
def test_167_and_169_characters_are_bad_pass(cut: int) -> None:
    text = V["pass"][:-1] if cut < 0 else V["pass"] + "A"
    with pytest.raises(BadPass, match="168 characters"):
        MemberPass.decode(text)


@pytest.mark.parametrize(
    "text",
    [
        V["pass"][:-2] + "+/",  # standard base64, not url-safe
        V["pass"][:-2] + "A=",  # padding
        V["pass"][:100] + " " + V["pass"][101:],  # a space (urlsafe_b64decode would drop it)
        V["pass"][:-1] + "B",  # the last character's spare bits set: not canonical
        "dsgm2:" + V["pass"][6:],
        "DSGM1:" + V["pass"][6:],
        "",
    ],
)
def test_strict_base64url_and_prefix(text: str) -> None:
    with pytest.raises(BadPass) as err:
        MemberPass.decode(text)
    assert err.value.code == "bad_pass" and err.value.http_status == 400


@pytest.mark.parametrize("v", [0, 1, 26, 29])
def test_v_other_than_27_or_28_is_refused(v: int) -> None:
    data = bytearray(_payload())
    data[-1] = v
    with pytest.raises(BadPass, match="v is"):
        MemberPass.decode(_b64(bytes(data)))


def test_high_s_is_refused_even_with_a_valid_signature() -> None:
    data = bytearray(_payload())
    s = int.from_bytes(data[56 + 32 : 56 + 64], "big")
    data[56 + 32 : 56 + 64] = (SECP256K1_N - s).to_bytes(32, "big")  # the malleable twin
    data[-1] = 55 - data[-1]  # 27 <-> 28: it still recovers to the member
    with pytest.raises(BadPass, match="high s"):
        MemberPass.decode(_b64(bytes(data)))


def test_forged_signature_and_swapped_member_are_bad_pass() -> None:
    other = MemberPass.sign(b"\x33" * 32, V["chain_id"], V["staking"], V["valid_until"])
    forged = MemberPass(V["chain_id"], V["staking"], V["member"], V["valid_until"], other.signature)
    with pytest.raises(BadPass, match="not 0x1563"):
        check(forged.text(), V["chain_id"], V["staking"], NOW)
    later = MemberPass.decode(V["pass"])
    moved = MemberPass(
        later.chain_id, later.staking, later.member, V["valid_until"] + 1, later.signature
    )
    with pytest.raises(BadPass):
        check(moved.text(), V["chain_id"], V["staking"], NOW)  # validUntil changed after signing


def test_zero_r_is_bad_pass() -> None:
    data = bytearray(_payload())
    data[56:88] = bytes(32)
    with pytest.raises(BadPass, match="out of range"):
        MemberPass.decode(_b64(bytes(data)))


def test_wrong_chain_or_contract() -> None:
    with pytest.raises(WrongChain) as err:
        check(V["pass"], 1, V["staking"], NOW)
    assert err.value.code == "wrong_chain" and err.value.http_status == 400
    with pytest.raises(WrongChain, match="staking contract"):
        check(V["pass"], V["chain_id"], "0x" + "66" * 20, NOW)
    # the staking address compares case-insensitively
    assert check(V["pass"], V["chain_id"], V["staking"].lower(), NOW).member == V["member"]


def test_expired_and_too_far_ahead() -> None:
    with pytest.raises(PassExpired, match="expired") as err:
        check(V["pass"], V["chain_id"], V["staking"], V["valid_until"] + 1)
    assert err.value.code == "pass_expired" and err.value.http_status == 400
    with pytest.raises(PassExpired, match="at most 600 s"):
        check(V["pass"], V["chain_id"], V["staking"], V["valid_until"] - 601)
    # the edges are accepted: exactly 10 minutes ahead, and the second it expires
    assert check(V["pass"], V["chain_id"], V["staking"], V["valid_until"] - 600)
    assert check(V["pass"], V["chain_id"], V["staking"], V["valid_until"])


def test_pass_id_is_a_hash_not_the_signature() -> None:
    p = MemberPass.decode(V["pass"])
    assert len(p.pass_id) == 64 and p.signature.hex() not in p.pass_id
    assert p.pass_id == MemberPass.decode(V["pass"]).pass_id
