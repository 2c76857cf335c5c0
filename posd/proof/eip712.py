"""EIP-712 digests of Claim, Batch and JoinStore under the mining domain, and raw secp256k1
signing (DESIGN §3, §4)."""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey
from eth_abi import encode as abi_encode
from eth_utils import keccak

from posd.proof.claimcode import checksum_address
from posd.proof.leaf import _addr

EIP712_NAME = "DSG Mining"
EIP712_VERSION = "1"
_DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
CLAIM_TYPEHASH = keccak(b"Claim(address till,uint64 seq,address recipient)")
BATCH_TYPEHASH = keccak(b"Batch(address till,uint64 firstSeq,bytes32 leavesHash)")
JOIN_STORE_TYPEHASH = keccak(b"JoinStore(bytes32 storeId,address till,uint64 deadline)")


def domain_separator(
    chain_id: int, contract: str, name: str = EIP712_NAME, version: str = EIP712_VERSION
) -> bytes:
    """An EIP-712 domain (name, version, chainId, verifyingContract): the mining contract's by
    default; the staking contract's pass (posd.proof.memberpass) names its own."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                _DOMAIN_TYPEHASH,
                keccak(name.encode()),
                keccak(version.encode()),
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


def join_store_digest(
    chain_id: int, contract: str, store_id: bytes, till: str, deadline: int
) -> bytes:
    """EIP-712 digest of JoinStore(bytes32 storeId,address till,uint64 deadline): the till key's
    consent to be added to that store (``addTill``), valid until block time ``deadline``."""
    if len(store_id) != 32:
        raise ValueError("store_id must be 32 bytes")
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "bytes32", "address", "uint64"],
            [JOIN_STORE_TYPEHASH, store_id, _addr(till), deadline],
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
    """Signer address of a 65-byte r‖s‖v signature (v = 0/1 or 27/28); coincurve raises a
    plain Exception when it recovers to no key."""
    if len(signature) != 65:
        raise ValueError("signature must be 65 bytes")
    v = signature[64]
    if v >= 27:
        v -= 27
    pub = PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    return checksum_address(keccak(pub.format(compressed=False)[1:])[-20:])
