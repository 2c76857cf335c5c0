"""Compiled contract artifacts and deploy/admin helpers (web3.py) for the DSG contracts.

The artifacts (ABI + bytecode) are committed under contracts/build/, so nothing here needs a
compiler. `deploy` creates the token blueprint, then the mining contract, whose constructor
creates the token from the blueprint: the token's immutable minter is the mining contract.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

_PKG = Path(__file__).resolve().parent
ARTIFACT_DIRS = (_PKG.parent / "contracts" / "build", _PKG / "contracts_build")
TOKEN = "DSGToken"
MINING = "DSGMining"
# 21 million DSG (18 decimals): Bitcoin's cap, halving on supply.
DEFAULT_MAX_SUPPLY = 21_000_000 * 10**18
# Error names the contracts put in revert reasons (DESIGN §3, §4) plus our own.
ERROR_NAMES = frozenset(
    "EmptyBatch BadLength BatchTooLarge SeqMismatch NotTill CapExceeded BadProof BadSignature "
    "AlreadyClaimed NothingToClaim MiningEnded Paused NotAdmin NotOwner UnknownStore NoRate "
    "BadOwner BadCurrency CurrencyFixed BadTill TillOfOtherStore BadRecipient BadMaxSupply "
    "NotMinter".split()
)


class ChainError(RuntimeError):
    """A transaction or call failed; ``reason`` is the contract's error name when it gave one."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """contracts/build/<name>.json (or the copy packaged as posd/contracts_build/)."""
    for folder in ARTIFACT_DIRS:
        path = folder / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError(
        f"contract artifact {name}.json not found in {', '.join(map(str, ARTIFACT_DIRS))} "
        "(run contracts/compile.py)"
    )


def abi(name: str) -> list[dict[str, Any]]:
    return load_artifact(name)["abi"]


def mining_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=abi(MINING))


def token_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=to_checksum_address(address), abi=abi(TOKEN))


def store_id(name: str) -> bytes:
    """A store is named by text; its storeId is keccak256(utf8(name))."""
    return keccak(name.encode("utf-8"))


def currency_code(code: str) -> bytes:
    """ISO 4217 code as the contract's bytes3 (e.g. "EUR" -> b"EUR")."""
    raw = code.encode("ascii", "strict") if code.isascii() else b""
    if len(raw) != 3 or not code.isalpha():
        raise ValueError(f"currency must be 3 ASCII letters (ISO 4217), got {code!r}")
    return code.upper().encode("ascii")


_REASON = re.compile(r"execution reverted:?\s*(?:revert:?\s*)?([A-Za-z0-9_ :.\-]*)")


def revert_name(exc: BaseException) -> str | None:
    """The error name in a revert (e.g. "SeqMismatch"), as the flusher needs it; None if absent."""
    texts = [str(a) for a in getattr(exc, "args", ()) if isinstance(a, str)]
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        texts.insert(0, message)
    texts.append(str(exc))
    for text in texts:
        m = _REASON.search(text)
        if m and m.group(1).strip():
            word = m.group(1).strip().split()[0].rstrip(".:")
            return word
        for name in ERROR_NAMES:
            if re.search(rf"\b{name}\b", text):
                return name
    return None


def send(
    w3: Web3, account: LocalAccount, call: Any, *, gas: int | None = None, timeout: float = 120
) -> TxReceipt:
    """Sign and send a contract call (or constructor), wait for the receipt, fail loudly.

    The gas estimate doubles as a dry run: a call that would revert raises ChainError with the
    contract's error name before anything is signed.
    """
    params: dict[str, Any] = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
    }
    if gas is not None:
        params["gas"] = gas
    try:
        tx = call.build_transaction(params)
    except ContractLogicError as exc:
        reason = revert_name(exc)
        raise ChainError(f"transaction would revert: {reason or exc}", reason) from exc
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        reason = _replay_reason(w3, tx, receipt)
        raise ChainError(f"transaction {tx_hash.hex()} reverted: {reason or '?'}", reason)
    return receipt


def _replay_reason(w3: Web3, tx: dict[str, Any], receipt: TxReceipt) -> str | None:
    call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
    try:
        w3.eth.call(call, receipt["blockNumber"] - 1)
    except ContractLogicError as exc:
        return revert_name(exc)
    except Exception:  # noqa: BLE001 - best effort: the receipt already says it failed
        return None
    return None


def deploy(
    w3: Web3, account: LocalAccount, max_supply: int = DEFAULT_MAX_SUPPLY
) -> tuple[Contract, Contract]:
    """Deploy (token, mining); `account` becomes the protocol admin of the mining contract."""
    if max_supply <= 0:
        raise ValueError("max_supply must be positive")
    token_art = load_artifact(TOKEN)
    # EIP-5202 blueprint: initcode that stores the token's initcode as (non-callable) code
    blueprint_factory = w3.eth.contract(abi=[], bytecode=token_art["blueprintBytecode"])
    blueprint = send(w3, account, blueprint_factory.constructor())["contractAddress"]
    mining_art = load_artifact(MINING)
    factory = w3.eth.contract(abi=mining_art["abi"], bytecode=mining_art["bytecode"])
    receipt = send(w3, account, factory.constructor(blueprint, max_supply))
    mining = mining_contract(w3, receipt["contractAddress"])
    token = token_contract(w3, mining.functions.token().call())
    return token, mining


def register_store(
    w3: Web3,
    account: LocalAccount,
    mining: Contract,
    name: str,
    owner: str,
    currency: str,
    daily_cap: int,
    rate: int | None = None,
) -> TxReceipt:
    """registerStore(storeId(name), owner, currency, dailyCap) and optionally setRate."""
    code = currency_code(currency)
    receipt = send(
        w3,
        account,
        mining.functions.registerStore(
            store_id(name), to_checksum_address(owner), code, int(daily_cap)
        ),
    )
    if rate is not None:
        receipt = set_rate(w3, account, mining, currency, rate)
    return receipt


def set_rate(
    w3: Web3, account: LocalAccount, mining: Contract, currency: str, rate: int
) -> TxReceipt:
    """DSG wei per minor unit of `currency` (admin)."""
    return send(w3, account, mining.functions.setRate(currency_code(currency), int(rate)))


def add_till(w3: Web3, account: LocalAccount, mining: Contract, store: str, till: str) -> TxReceipt:
    """addTill(storeId(store), till) by the store owner or the admin."""
    return send(w3, account, mining.functions.addTill(store_id(store), to_checksum_address(till)))


def remove_till(w3: Web3, account: LocalAccount, mining: Contract, till: str) -> TxReceipt:
    return send(w3, account, mining.functions.removeTill(to_checksum_address(till)))
