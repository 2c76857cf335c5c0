"""Compiled contract artifacts and deploy/admin helpers (web3.py) for the DSG contracts.

The artifacts (ABI + bytecode) are committed under contracts/build/, so nothing here needs a
compiler. `deploy` creates the token blueprint, then the mining contract, whose constructor
creates the token from the blueprint: the token's immutable minter is the mining contract.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posd.chain import consent as consent_mod
from posd.chain.reverts import revert_reason
from posd.errors import Conflict

if TYPE_CHECKING:  # web3 costs half a second to import: only the functions that talk load it
    from eth_account.signers.local import LocalAccount
    from web3 import Web3
    from web3.contract import Contract
    from web3.types import TxReceipt

    from posd.chain.consent import JoinConsent

_PKG = Path(__file__).resolve().parents[1]
ARTIFACT_DIRS = (_PKG.parent / "contracts" / "build", _PKG / "contracts_build")
TOKEN = "DSGToken"
MINING = "DSGMining"
# 21 million DSG (18 decimals): Bitcoin's cap, halving on supply.
DEFAULT_MAX_SUPPLY = 21_000_000 * 10**18


class ChainError(Conflict, RuntimeError):
    """A transaction or call failed; ``reason`` is the contract's error name when it gave one."""

    code = "chain_reverted"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address(address)


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
    return w3.eth.contract(address=_checksum(address), abi=abi(MINING))


def token_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=_checksum(address), abi=abi(TOKEN))


def store_id(name: str) -> bytes:
    """A store is named by text; its storeId is keccak256(utf8(name))."""
    from eth_utils import keccak

    return keccak(name.encode("utf-8"))


def currency_code(code: str) -> bytes:
    """ISO 4217 code as the contract's bytes3 (e.g. "EUR" -> b"EUR")."""
    raw = code.encode("ascii", "strict") if code.isascii() else b""
    if len(raw) != 3 or not code.isalpha():
        raise ValueError(f"currency must be 3 ASCII letters (ISO 4217), got {code!r}")
    return code.upper().encode("ascii")


def send(
    w3: Web3, account: LocalAccount, call: Any, *, gas: int | None = None, timeout: float = 120
) -> TxReceipt:
    """Sign and send a contract call (or constructor), wait for the receipt, fail loudly.

    The gas estimate doubles as a dry run: a call that would revert raises ChainError with the
    contract's error name before anything is signed.
    """
    from web3.exceptions import ContractLogicError

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
        reason = revert_reason(exc)
        raise ChainError(f"transaction would revert: {reason or exc}", reason) from exc
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        reason = _replay_reason(w3, tx, receipt)
        raise ChainError(f"transaction {tx_hash.hex()} reverted: {reason or '?'}", reason)
    return receipt


def _replay_reason(w3: Web3, tx: dict[str, Any], receipt: TxReceipt) -> str | None:
    """Why a mined transaction failed: replayed as a call on the block before it (best effort)."""
    from web3.exceptions import ContractLogicError

    call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
    try:
        w3.eth.call(call, receipt["blockNumber"] - 1)
    except ContractLogicError as exc:
        return revert_reason(exc)
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
    mining = mining_contract(w3, _create(w3, account, MINING, blueprint, max_supply))
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
        mining.functions.registerStore(store_id(name), _checksum(owner), code, int(daily_cap)),
    )
    if rate is not None:
        receipt = set_rate(w3, account, mining, currency, rate)
    return receipt


def set_rate(
    w3: Web3, account: LocalAccount, mining: Contract, currency: str, rate: int
) -> TxReceipt:
    """DSG wei per minor unit of `currency` (admin)."""
    return send(w3, account, mining.functions.setRate(currency_code(currency), int(rate)))


# What addTill's reverts mean to the store owner who typed `posd chain add-till`.
_ADD_TILL_REVERTS = {
    "ConsentUsed": "this consent was used already (a removed till rejoins only with a fresh "
    "one): run `posd chain join-request` on the till again",
    "ConsentExpired": "the consent expired: run `posd chain join-request` on the till again",
    "TillOfOtherStore": "the till is active in another store: that store's owner must "
    "`posd chain remove-till` it first",
    "NotOwner": "only the store's owner or the protocol admin may add tills to it",
    "UnknownStore": "no such store on this mining contract (register-store first)",
    "BadSignature": "the contract refused the consent's signature",
}


def add_till(
    w3: Web3,
    account: LocalAccount,
    mining: Contract,
    store: str,
    till: str,
    join: JoinConsent,
) -> TxReceipt:
    """addTill(storeId(store), till, deadline, signature) by the store owner or the admin.

    ``join`` is the till's own consent (posd.chain.consent): checked here against the till, the
    store, this deployment and the block time first, so a wrong one fails with its reason.
    """
    sid = store_id(store)
    till = _checksum(till)
    latest = w3.eth.get_block("latest")
    consent_mod.check(
        join,
        till=till,
        store=store,
        store_id=sid,
        chain_id=w3.eth.chain_id,
        mining=mining.address,
        now=int(latest["timestamp"]),
    )
    call = mining.functions.addTill(sid, till, join.deadline, join.signature)
    try:
        return send(w3, account, call)
    except ChainError as exc:
        hint = _ADD_TILL_REVERTS.get(exc.reason or "")
        if hint is None:
            raise
        raise ChainError(f"add-till refused ({exc.reason}): {hint}", exc.reason) from None


def add_till_with_key(
    w3: Web3,
    account: LocalAccount,
    mining: Contract,
    store: str,
    till_key: bytes,
    valid_for: int = 3600,
) -> TxReceipt:
    """Both sides at once where one process holds the till key (--simulate, dev tools, benches):
    the till's consent, valid ``valid_for`` s of block time, then addTill by ``account``."""
    now = int(w3.eth.get_block("latest")["timestamp"])
    join = consent_mod.request(
        till_key, w3.eth.chain_id, mining.address, store_id(store), valid_for, now
    )
    return add_till(w3, account, mining, store, join.till, join)


def till_store(mining: Contract, till: str) -> str | None:
    """The storeId (0x hex) of the store ``till`` is in or was last in; None if never added.

    With ``isTill`` it tells `posd chain status` whether the till sits in the configured store
    (``store_id(config.store.name)``) or was squatted, removed or moved.
    """
    sid = bytes(mining.functions.tillStore(_checksum(till)).call())
    return None if sid == bytes(32) else "0x" + sid.hex()


def remove_till(w3: Web3, account: LocalAccount, mining: Contract, till: str) -> TxReceipt:
    return send(w3, account, mining.functions.removeTill(_checksum(till)))


# ---------------------------------------------------------------- staking (DESIGN §11)

STAKING = "DSGStaking"
TEST_STABLE = "TestStable"
# What `posd run --simulate` and `posd chain deploy` set on a new staking contract: whole DSG.
DEFAULT_TIERS_DSG = (100, 1_000, 10_000)
MAX_TIERS = 8


def staking_contract(w3: Web3, address: str) -> Contract:
    return w3.eth.contract(address=_checksum(address), abi=abi(STAKING))


def erc20_contract(w3: Web3, address: str) -> Contract:
    """Any ERC-20 (the profit stablecoin): the test stablecoin's ABI has every standard call."""
    return w3.eth.contract(address=_checksum(address), abi=abi(TEST_STABLE))


def _create(w3: Web3, account: LocalAccount, name: str, *args: Any) -> str:
    art = load_artifact(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    return send(w3, account, factory.constructor(*args))["contractAddress"]


def deploy_test_stable(w3: Web3, account: LocalAccount, initial_supply: int = 0) -> Contract:
    """The 6-decimal test stablecoin (dev chains); ``account`` is its owner and minter and gets
    ``initial_supply`` units at once."""
    return erc20_contract(w3, _create(w3, account, TEST_STABLE, int(initial_supply)))


def deploy_staking(
    w3: Web3,
    account: LocalAccount,
    staking_token: str,
    profit_token: str,
    tiers: list[int] | tuple[int, ...] | None = None,
) -> Contract:
    """DSGStaking over ``staking_token`` (DSG) paying ``profit_token``; ``account`` is its admin.

    ``tiers`` (DSG wei, ascending) are set by the constructor (one transaction, not two).
    """
    if _checksum(staking_token) == _checksum(profit_token):
        raise ValueError("the profit token must differ from the staked token")
    for label, address in (("DSG token", staking_token), ("profit token", profit_token)):
        if not w3.eth.get_code(_checksum(address)):
            raise ValueError(f"no contract at the {label} address {address}")
    thresholds = check_tiers(tiers or [])
    address = _create(
        w3, account, STAKING, _checksum(staking_token), _checksum(profit_token), thresholds
    )
    return staking_contract(w3, address)


def parse_dsg(text: str) -> int:
    """Whole DSG with up to 18 decimals ("100", "2.5") as DSG wei; a clear ValueError otherwise."""
    return parse_units(text, 18, "DSG")


def parse_units(text: str, decimals: int, what: str = "amount") -> int:
    """A decimal amount of a token with ``decimals`` as its base units; ``what`` names it in
    the ValueError."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} {text!r} must be a positive number")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {text!r} has more than {decimals} decimals")
    return int(scaled)


def check_tiers(tiers: list[int] | tuple[int, ...]) -> list[int]:
    """The contract's rules for tier thresholds, checked before any transaction."""
    tiers = [int(t) for t in tiers]
    if len(tiers) > MAX_TIERS:
        raise ValueError(f"at most {MAX_TIERS} tiers, got {len(tiers)}")
    if tiers and tiers[0] <= 0:
        raise ValueError("the first tier threshold must be above 0")
    for a, b in zip(tiers, tiers[1:], strict=False):
        if b <= a:
            raise ValueError(f"tier thresholds must be strictly ascending ({a} then {b})")
    return tiers


def set_tier_thresholds(
    w3: Web3, account: LocalAccount, staking: Contract, tiers: list[int] | tuple[int, ...]
) -> TxReceipt:
    """setTierThresholds(tiers) by the admin; thresholds in DSG wei."""
    return send(w3, account, staking.functions.setTierThresholds(check_tiers(tiers)))


def notify_profit(
    w3: Web3, account: LocalAccount, staking: Contract, amount: int
) -> tuple[TxReceipt, TxReceipt | None]:
    """Deposit ``amount`` profit-token units: approve (when the allowance is short), then
    notifyProfit. Returns (notify receipt, approve receipt or None).

    USDT-style tokens refuse to change a non-zero allowance to another non-zero one, so a short
    non-zero allowance is first set to 0.
    """
    if amount <= 0:
        raise ValueError("the profit amount must be positive")
    token = erc20_contract(w3, staking.functions.profitToken().call())
    balance = token.functions.balanceOf(account.address).call()
    if balance < amount:
        raise ChainError(
            f"{account.address} holds {balance} profit-token units, less than {amount}",
            "InsufficientBalance",
        )
    approved = None
    allowance = token.functions.allowance(account.address, staking.address).call()
    if allowance < amount:
        if allowance:
            send(w3, account, token.functions.approve(staking.address, 0))
        approved = send(w3, account, token.functions.approve(staking.address, amount))
    return send(w3, account, staking.functions.notifyProfit(amount)), approved
