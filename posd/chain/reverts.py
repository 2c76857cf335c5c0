"""The one revert decoder: a contract's error name from whatever a node or web3 hands back.

Our contracts revert with the error's name as the reason string (DESIGN §3: Vyper 0.4 has no
custom errors), so both chain stacks — the raw JSON-RPC client the flusher uses and the web3
calls of the admin tools — read reasons here. Imports only the standard library (eth-abi lazily).
"""

from __future__ import annotations

import re
from typing import Any

# Error names the contracts put in revert reasons (DESIGN §3, §4) plus our own.
ERROR_NAMES = frozenset(
    "EmptyBatch BadLength BatchTooLarge SeqMismatch NotTill CapExceeded BadProof BadSignature "
    "AlreadyClaimed NothingToClaim MiningEnded Paused NotAdmin NotOwner UnknownStore NoRate "
    "BadOwner BadCurrency CurrencyFixed BadTill TillOfOtherStore BadRecipient BadMaxSupply "
    "NotMinter NoMinter ConsentExpired ConsentUsed RateTooHigh UnknownBatch "
    # DSGStaking (DESIGN §11)
    "ZeroAmount InsufficientStake NothingToWithdraw CooldownActive NotDistributor NotPaused "
    "AmountTooLarge ProfitTooLarge TransferFailed BadToken BadAddress NoSuchTier TooManyTiers "
    "ZeroThreshold TiersNotAscending PeriodTooLong ZeroDuration StreamActive DepositTooSmall "
    "ProfitExceedsBalance NothingToRecover NotPendingAdmin".split()
)
_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
# "execution reverted: X", "VM Exception: revert X", "reverted: revert: X"; the \b keeps a bare
# "execution reverted" from reading as the reason "ed".
_REASON = re.compile(r"revert(?:ed)?\b:?\s*(?:revert\b:?\s*)?([A-Za-z][A-Za-z0-9_]*)")
_NOT_A_REASON = ("reverted", "revert")


def _from_data(data: Any) -> str | None:
    if isinstance(data, dict):
        data = data.get("data")
    if not (isinstance(data, str) and data.startswith("0x")):
        return None
    try:
        raw = bytes.fromhex(data[2:])
    except ValueError:
        return None
    if raw[:4] != _ERROR_SELECTOR:
        return None
    from eth_abi import decode as abi_decode

    try:
        return str(abi_decode(["string"], raw[4:])[0])
    except Exception:  # noqa: BLE001 - malformed data: fall back to the message
        return None


def _from_message(message: str) -> str | None:
    m = _REASON.search(message)
    if m and m.group(1) not in _NOT_A_REASON:
        return m.group(1)
    for name in ERROR_NAMES:
        if re.search(rf"\b{name}\b", message):
            return name
    return None


def decode_revert(data: Any, message: str = "") -> str | None:
    """The revert reason of an eth_call / estimateGas error (e.g. "SeqMismatch"), None if absent.

    ``data`` is the error's revert data (hex, or a dict holding it under "data"); ``message`` the
    node's text, read when the data says nothing.
    """
    return _from_data(data) or _from_message(message or "")


def revert_reason(exc: BaseException) -> str | None:
    """The reason of a web3 exception (ContractLogicError carries ``data`` and ``message``)."""
    reason = _from_data(getattr(exc, "data", None))
    if reason:
        return reason
    texts = [str(a) for a in getattr(exc, "args", ()) if isinstance(a, str)]
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        texts.insert(0, message)
    texts.append(str(exc))
    for text in texts:
        reason = _from_message(text)
        if reason:
            return reason
    return None
