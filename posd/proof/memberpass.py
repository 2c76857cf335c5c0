"""The membership pass a shopper shows at the till (DESIGN §11): ``dsgm1:`` + base64url of
121 bytes, an EIP-712 ``Member(address member,uint64 validUntil)`` signature by the member's
wallet under the staking contract's domain.

The till checks it offline: layout, low-s signature, chain and contract, and the time window
(at most 10 minutes ahead, not expired). The signature is never logged: a pass's ``repr`` and
every error message name the member at most.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache

from eth_abi import encode as abi_encode
from eth_utils import keccak

from posd.errors import BadInput
from posd.proof import eip712
from posd.proof.claimcode import SECP256K1_N, address_of, checksum_address

PREFIX = "dsgm1:"
PASS_BYTES = 121  # chainId 8 | staking 20 | member 20 | validUntil 8 | signature 65
PASS_CHARS = len(PREFIX) + 162  # 168: base64url of 121 bytes without padding
MAX_AHEAD_S = 600  # a pass valid for longer than this is refused (DESIGN §11)
EIP712_NAME = "DSG Staking"
EIP712_VERSION = "1"
MEMBER_TYPEHASH = keccak(b"Member(address member,uint64 validUntil)")
_HALF_N = SECP256K1_N // 2
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class BadPass(BadInput, ValueError):
    """Not a membership pass: layout, base64, signature (400 ``bad_pass``)."""

    code = "bad_pass"


class PassExpired(BadInput, ValueError):
    """Expired, or valid for more than 10 minutes ahead (400 ``pass_expired``)."""

    code = "pass_expired"


class WrongChain(BadInput, ValueError):
    """A pass for another chain or staking contract (400 ``wrong_chain``)."""

    code = "wrong_chain"


def is_pass(code: str) -> bool:
    """True for text that claims to be a membership pass (a scan goes to the member path)."""
    return code.startswith(PREFIX)


@lru_cache(maxsize=16)
def domain_separator(chain_id: int, staking: str) -> bytes:
    """EIP-712 domain "DSG Staking" / "1" / chainId / the staking contract (cached: hot path)."""
    return eip712.domain_separator(chain_id, staking, EIP712_NAME, EIP712_VERSION)


def member_digest(chain_id: int, staking: str, member: str, valid_until: int) -> bytes:
    """EIP-712 digest of ``Member(address member,uint64 validUntil)``."""
    struct_hash = keccak(
        abi_encode(["bytes32", "address", "uint64"], [MEMBER_TYPEHASH, member, valid_until])
    )
    return keccak(b"\x19\x01" + domain_separator(chain_id, staking.lower()) + struct_hash)


@dataclass(frozen=True)
class MemberPass:
    chain_id: int
    staking: str  # checksummed
    member: str  # checksummed
    valid_until: int  # unix seconds
    signature: bytes  # 65 bytes r‖s‖v: never logged

    def __repr__(self) -> str:
        return (
            f"MemberPass(member={self.member}, valid_until={self.valid_until}, "
            f"chain_id={self.chain_id}, staking={self.staking})"
        )

    @property
    def digest(self) -> bytes:
        return member_digest(self.chain_id, self.staking, self.member, self.valid_until)

    @property
    def pass_id(self) -> str:
        """A stable id of this pass for the used-pass list (a hash: the signature stays out)."""
        return keccak(self.payload()).hex()

    def payload(self) -> bytes:
        if not 0 <= self.chain_id < 1 << 64 or not 0 <= self.valid_until < 1 << 64:
            raise BadPass("chain id and validUntil must fit 8 bytes")
        if len(self.signature) != 65:
            raise BadPass("the signature must be 65 bytes")
        data = (
            self.chain_id.to_bytes(8, "big")
            + _address(self.staking)
            + _address(self.member)
            + self.valid_until.to_bytes(8, "big")
            + self.signature
        )
        assert len(data) == PASS_BYTES
        return data

    def text(self) -> str:
        return PREFIX + base64.urlsafe_b64encode(self.payload()).rstrip(b"=").decode("ascii")

    @classmethod
    def sign(cls, private_key: bytes, chain_id: int, staking: str, valid_until: int) -> MemberPass:
        """A pass signed with ``private_key`` (tests, the benchmark; wallets sign on the page)."""
        member = address_of(private_key)
        staking = checksum_address(_address(staking))
        digest = member_digest(chain_id, staking, member, valid_until)
        return cls(chain_id, staking, member, valid_until, eip712.sign_digest(private_key, digest))

    @classmethod
    def decode(cls, text: str) -> MemberPass:
        """Strict decode of the pass text; its signature is checked by :meth:`verify`."""
        if not isinstance(text, str) or not text.startswith(PREFIX):
            raise BadPass(f"a membership pass starts with {PREFIX!r}")
        body = text[len(PREFIX) :]
        if len(text) != PASS_CHARS:
            raise BadPass(f"a membership pass is {PASS_CHARS} characters, this one {len(text)}")
        if not _B64URL.fullmatch(body):
            raise BadPass("the membership pass is not base64url (only A-Z a-z 0-9 - _ allowed)")
        try:
            data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError) as exc:
            raise BadPass(f"the membership pass is not valid base64url: {exc}") from None
        # 162 characters carry 121 bytes and 4 spare bits: they must be zero (one text per pass)
        if (
            len(data) != PASS_BYTES
            or PREFIX + base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != text
        ):
            raise BadPass("the membership pass is not canonical base64url")
        sig = data[56:]
        r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        if v not in (27, 28):
            raise BadPass(f"the pass signature's v is {v}; it must be 27 or 28")
        if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
            raise BadPass("the pass signature is out of range")
        if s > _HALF_N:
            raise BadPass("the pass signature has a high s (not canonical)")
        return cls(
            chain_id=int.from_bytes(data[:8], "big"),
            staking=checksum_address(data[8:28]),
            member=checksum_address(data[28:48]),
            valid_until=int.from_bytes(data[48:56], "big"),
            signature=sig,
        )

    def signer(self) -> str:
        """The address the signature recovers to (BadPass when it recovers to none)."""
        try:
            return eip712.recover_digest(self.digest, self.signature)
        except Exception:  # noqa: BLE001 - coincurve raises plain Exception for no point
            raise BadPass("the pass signature recovers to no key") from None

    def verify(self, chain_id: int, staking: str, now: float) -> MemberPass:
        """Check this pass for this till (chain, contract, signature, time); returns it."""
        if self.chain_id != chain_id or self.staking.lower() != staking.lower():
            raise WrongChain(
                f"this pass is for chain {self.chain_id}, staking contract {self.staking}; "
                f"this till uses chain {chain_id}, staking contract {staking}"
            )
        if self.signer() != self.member:
            raise BadPass(f"the pass signature is not {self.member}'s")
        if self.valid_until < now:
            raise PassExpired(
                f"this pass expired {int(now - self.valid_until)} s ago: show a fresh one"
            )
        if self.valid_until > now + MAX_AHEAD_S:
            raise PassExpired(
                f"this pass is valid for {int(self.valid_until - now)} s; "
                f"a till accepts at most {MAX_AHEAD_S} s ahead"
            )
        return self


def check(text: str, chain_id: int, staking: str, now: float) -> MemberPass:
    """Decode and verify a pass in one call (the till's pass check)."""
    return MemberPass.decode(text).verify(chain_id, staking, now)


def _address(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        if len(value) != 20:
            raise BadPass("an address is 20 bytes")
        return value
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise BadPass(f"not an address: {value!r}")
    return raw
