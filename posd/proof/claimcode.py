"""Claim keys (DESIGN §2) and the receipt QR payload (DESIGN §5).

The claim key is derived, never stored: a reprint derives it again from the seed in the key file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from coincurve import PublicKey
from Crypto.Hash import keccak as _keccak
from eth_utils import to_checksum_address

from posd.errors import BadInput

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
CLAIM_INFO = b"posd-claim-v1"
QR_VERSION = 1
QR_LENGTH = 102
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_FIELDS = (("chain_id", 8), ("seq", 8), ("amount", 6), ("time", 4))


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def _address_bytes(address: str | bytes) -> bytes:
    if isinstance(address, bytes):
        if len(address) != 20:
            raise ValueError("an address is 20 bytes")
        return address
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"not an address: {address!r}")
    return raw


def claim_key(claim_seed: bytes, till_address: str | bytes, seq: int) -> bytes:
    """The receipt's claim key k for ``seq`` (HKDF-SHA256, retried until 0 < k < n)."""
    if len(claim_seed) != 32:
        raise ValueError("the claim seed is 32 bytes")
    salt = _address_bytes(till_address)
    info = CLAIM_INFO + seq.to_bytes(8, "big")
    suffix = 0
    while True:
        key = _hkdf_sha256(claim_seed, salt, info + (bytes([suffix]) if suffix else b""))
        if 0 < int.from_bytes(key, "big") < SECP256K1_N:
            return key
        suffix += 1


def keccak256(data: bytes) -> bytes:
    return _keccak.new(data=data, digest_bits=256).digest()


def checksum_address(raw: bytes) -> str:
    """EIP-55 mixed-case hex (eth_utils' version costs 4x as much; a sale derives one)."""
    hexaddr = raw.hex()
    digest = keccak256(hexaddr.encode("ascii")).hex()[:40]
    return "0x" + "".join(
        c.upper() if int(d, 16) >= 8 else c for c, d in zip(hexaddr, digest, strict=True)
    )


def address_of(private_key: bytes) -> str:
    """Checksummed Ethereum address of a secp256k1 private key (coincurve: microseconds)."""
    public = PublicKey.from_secret(private_key).format(compressed=False)[1:]
    return checksum_address(keccak256(public)[-20:])


def claim_address(claim_seed: bytes, till_address: str | bytes, seq: int) -> str:
    return address_of(claim_key(claim_seed, till_address, seq))


class QrError(BadInput, ValueError):
    """A claim URL or QR payload that is not a valid version-1 receipt code."""

    code = "bad_claim_code"


@dataclass(frozen=True)
class ClaimPayload:
    """The 102-byte receipt QR payload (DESIGN §5). ``claim_key`` is secret: never log it."""

    chain_id: int
    contract: str
    till: str
    seq: int
    amount: int
    currency: str
    time: int
    claim_key: bytes

    def __repr__(self) -> str:  # keep the claim key out of logs and tracebacks
        return (
            f"ClaimPayload(chain_id={self.chain_id}, contract={self.contract}, till={self.till}, "
            f"seq={self.seq}, amount={self.amount}, currency={self.currency}, time={self.time})"
        )

    @property
    def claim_address(self) -> str:
        return address_of(self.claim_key)

    def encode(self) -> bytes:
        """The 102 bytes; a field that does not fit its width is a QrError naming it."""
        for name, size in _FIELDS:
            number = getattr(self, name)
            if not 0 <= number < 1 << (8 * size):
                raise QrError(f"{name} {number} does not fit the QR's {size}-byte field")
        if len(self.claim_key) != 32:
            raise QrError("the claim key is not 32 bytes")
        try:
            currency = self.currency.encode("ascii")
        except UnicodeEncodeError:
            currency = b""
        if len(currency) != 3:
            raise QrError(f"currency must be 3 ASCII letters, got {self.currency!r}")
        data = (
            bytes([QR_VERSION])
            + self.chain_id.to_bytes(8, "big")
            + _address_bytes(self.contract)
            + _address_bytes(self.till)
            + self.seq.to_bytes(8, "big")
            + self.amount.to_bytes(6, "big")
            + currency
            + self.time.to_bytes(4, "big")
            + self.claim_key
        )
        assert len(data) == QR_LENGTH
        return data

    @classmethod
    def decode(cls, data: bytes) -> ClaimPayload:
        if len(data) != QR_LENGTH:
            raise QrError(f"claim code has {len(data)} bytes, expected {QR_LENGTH}")
        if data[0] != QR_VERSION:
            raise QrError(f"claim code version {data[0]} is not supported (expected {QR_VERSION})")
        try:
            currency = data[63:66].decode("ascii")
        except UnicodeDecodeError as exc:
            raise QrError("claim code currency is not ASCII") from exc
        key = data[70:102]
        if not 0 < int.from_bytes(key, "big") < SECP256K1_N:
            raise QrError("claim code carries an invalid claim key")
        return cls(
            chain_id=int.from_bytes(data[1:9], "big"),
            contract=to_checksum_address(data[9:29]),
            till=to_checksum_address(data[29:49]),
            seq=int.from_bytes(data[49:57], "big"),
            amount=int.from_bytes(data[57:63], "big"),
            currency=currency,
            time=int.from_bytes(data[66:70], "big"),
            claim_key=key,
        )

    def url(self, base_url: str) -> str:
        """``<claim_base_url>#<base64url(payload) without padding>``."""
        fragment = base64.urlsafe_b64encode(self.encode()).rstrip(b"=").decode("ascii")
        return f"{base_url}#{fragment}"

    @classmethod
    def from_url(cls, url: str) -> ClaimPayload:
        """Strict decode of a claim URL (or a bare fragment): bad base64 is an error, not dropped."""
        url = url.strip()
        if "#" in url:
            fragment = url.rsplit("#", 1)[1]
        elif "/" in url or ":" in url:
            raise QrError("claim URL has no '#<code>' fragment")
        else:
            fragment = url
        if not fragment:
            raise QrError("claim URL has no '#<code>' fragment")
        if not _B64URL.fullmatch(fragment):
            raise QrError("claim code is not base64url (only A-Z a-z 0-9 - _ allowed)")
        if len(fragment) % 4 == 1:
            raise QrError("claim code has an impossible base64 length")
        try:
            data = base64.urlsafe_b64decode(fragment + "=" * (-len(fragment) % 4))
        except (binascii.Error, ValueError) as exc:
            raise QrError(f"claim code is not valid base64url: {exc}") from exc
        return cls.decode(data)
