"""Purchase proofs, claim keys and QR payloads (DESIGN §2, §3, §5): pure functions, no I/O.

The package is the proof vocabulary in one namespace (``proof.leaf_hash``, ``proof.merkle_root``,
``proof.claim_digest``); each step lives in its own module.
"""

from posd.proof.eip712 import (
    BATCH_TYPEHASH,
    CLAIM_TYPEHASH,
    EIP712_NAME,
    EIP712_VERSION,
    JOIN_STORE_TYPEHASH,
    batch_digest,
    claim_digest,
    domain_separator,
    join_store_digest,
    recover_digest,
    sign_digest,
)
from posd.proof.leaf import (
    MAX_AMOUNT,
    MAX_BATCH,
    MAX_SEQ,
    MAX_TIME,
    RECORD_SIZE,
    Leaf,
    decode_records,
    encode_record,
    encode_records,
    leaf_hash,
)
from posd.proof.merkle import (
    all_proofs,
    hash_pair,
    merkle_levels,
    merkle_proof,
    merkle_root,
    verify_proof,
)
from posd.proof.reward import era, reward

__all__ = [
    "BATCH_TYPEHASH",
    "CLAIM_TYPEHASH",
    "EIP712_NAME",
    "EIP712_VERSION",
    "JOIN_STORE_TYPEHASH",
    "MAX_AMOUNT",
    "MAX_BATCH",
    "MAX_SEQ",
    "MAX_TIME",
    "RECORD_SIZE",
    "Leaf",
    "all_proofs",
    "batch_digest",
    "claim_digest",
    "decode_records",
    "domain_separator",
    "encode_record",
    "encode_records",
    "era",
    "hash_pair",
    "join_store_digest",
    "leaf_hash",
    "merkle_levels",
    "merkle_proof",
    "merkle_root",
    "recover_digest",
    "reward",
    "sign_digest",
    "verify_proof",
]
