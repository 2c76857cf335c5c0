"""A till's consent to join a store (DESIGN §4, §6): signed on the till, carried to ``add-till``.

`posd chain join-request` signs EIP-712 ``JoinStore(storeId, till, deadline)`` with the till key
and prints one hex blob; the store owner passes it to `posd chain add-till --consent HEX`.
The blob names what it consents to, so a wrong one is refused with a reason before any
transaction (125 bytes, 250 hex digits, optional 0x):

    till (20) | storeId (32) | deadline (8, big-endian unix seconds) | signature (65, r|s|v)

The signature alone is what the contract checks; the first 60 bytes repeat what it signs so
``add-till`` can say *which* till or store a mismatched consent was made for. No secret is in it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from posd.errors import BadInput

CONSENT_LEN = 20 + 32 + 8 + 65
MAX_DEADLINE = 2**64 - 1
MAX_VALID_FOR = 366 * 86400  # a consent valid for more than a year is a mistake
_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``1d``, ``12h``, ``30m``, ``90s`` or plain seconds -> seconds (1 s .. 366 d)."""
    m = _DURATION.match(text or "")
    if not m:
        raise BadInput(f"--valid-for {text!r}: expected a duration like 1d, 12h, 30m or 600s")
    seconds = int(m.group(1)) * _UNIT[m.group(2)]
    if not 0 < seconds <= MAX_VALID_FOR:
        raise BadInput(f"--valid-for {text!r}: must be between 1 s and 366 d")
    return seconds


def iso(ts: int) -> str:
    return datetime.fromtimestamp(min(ts, 253402300799), UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class JoinConsent:
    """What a till signed: join ``store_id`` until ``deadline`` (block time)."""

    till: str
    store_id: bytes
    deadline: int
    signature: bytes

    def to_hex(self) -> str:
        raw = (
            bytes.fromhex(self.till[2:])
            + self.store_id
            + self.deadline.to_bytes(8, "big")
            + self.signature
        )
        return "0x" + raw.hex()

    def digest(self, chain_id: int, mining: str) -> bytes:
        from posd import proof  # eth-abi: loaded only by the commands that sign or check

        return proof.join_store_digest(chain_id, mining, self.store_id, self.till, self.deadline)

    def signer(self, chain_id: int, mining: str) -> str | None:
        """The address the signature recovers to in this deployment (None: not a signature)."""
        from posd import proof

        try:
            return proof.recover_digest(self.digest(chain_id, mining), self.signature)
        except Exception:  # noqa: BLE001 - a malformed r/s/v is just "not the till's"
            return None

    def as_json(self, store: str | None = None) -> dict[str, object]:
        data: dict[str, object] = {
            "till": self.till,
            "store_id": "0x" + self.store_id.hex(),
            "deadline": self.deadline,
            "deadline_utc": iso(self.deadline),
            "signature": "0x" + self.signature.hex(),
            "consent": self.to_hex(),
        }
        if store is not None:
            data["store"] = store
        return data


def sign(
    private_key: bytes, chain_id: int, mining: str, store_id: bytes, deadline: int
) -> JoinConsent:
    """The till key's JoinStore consent (the key never leaves this call)."""
    from posd import proof
    from posd.proof.claimcode import address_of

    if not 0 < deadline <= MAX_DEADLINE:
        raise BadInput(f"deadline {deadline} is out of range")
    till = address_of(private_key)
    digest = proof.join_store_digest(chain_id, mining, store_id, till, deadline)
    return JoinConsent(till, store_id, deadline, proof.sign_digest(private_key, digest))


def request(
    private_key: bytes,
    chain_id: int,
    mining: str,
    store_id: bytes,
    valid_for: int,
    now: int | None = None,
) -> JoinConsent:
    """A consent valid for ``valid_for`` seconds from ``now`` (the till's clock)."""
    now = int(time.time()) if now is None else now
    return sign(private_key, chain_id, mining, store_id, now + valid_for)


def decode(text: str) -> JoinConsent:
    """The blob printed by join-request, strictly (wrong length or non-hex -> BadInput)."""
    from eth_utils import to_checksum_address

    hexpart = (text or "").strip()
    hexpart = hexpart[2:] if hexpart[:2].lower() == "0x" else hexpart
    if not re.fullmatch(r"[0-9a-fA-F]*", hexpart):
        raise BadInput(
            "--consent is not hex: paste the consent line `posd chain join-request` printed"
        )
    if len(hexpart) != 2 * CONSENT_LEN:
        raise BadInput(
            f"--consent has {len(hexpart) // 2} bytes, expected {CONSENT_LEN} "
            "(till | storeId | deadline | signature, as `posd chain join-request` prints it)"
        )
    raw = bytes.fromhex(hexpart)
    till = to_checksum_address(raw[:20])
    deadline = int.from_bytes(raw[52:60], "big")
    if deadline == 0:
        raise BadInput("--consent has deadline 0")
    return JoinConsent(till, raw[20:52], deadline, raw[60:])


def check(
    consent: JoinConsent,
    *,
    till: str,
    store: str,
    store_id: bytes,
    chain_id: int,
    mining: str,
    now: int,
) -> None:
    """Refuse, with the reason, a consent that addTill would revert on (``now``: block time)."""
    if consent.till.lower() != till.lower():
        raise BadInput(
            f"the consent is from till {consent.till}, not --till {till}: "
            "run `posd chain join-request` on that till"
        )
    if consent.store_id != store_id:
        raise BadInput(
            f"the consent is for another store (storeId 0x{consent.store_id.hex()}), not "
            f"{store!r} (0x{store_id.hex()}): run `posd chain join-request --store {store!r}` "
            "on the till"
        )
    if consent.deadline < now:
        raise BadInput(
            f"the consent expired at {iso(consent.deadline)} (block time now {iso(now)}): "
            "run `posd chain join-request` on the till again"
        )
    signer = consent.signer(chain_id, mining)
    if signer is None or signer.lower() != till.lower():
        raise BadInput(
            f"the consent's signature is not till {till}'s for this mining contract "
            f"({mining}, chain {chain_id}): it was made for another deployment or altered"
        )
