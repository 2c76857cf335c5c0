"""The till's own transaction sender: local signing, EIP-1559 fees, replacement, one sender per key.

:class:`Sender` bundles them for one till key and one RPC client; the flusher gets one injected
(tests hand it a subclass, e.g. one that fails at a chosen point, instead of patching globals).

Nothing here talks to SQLite: the flusher persists every signed transaction (raw bytes and
hash) before it calls :func:`broadcast_many`, so a crash at any point leaves a record of every
hash that may be on its way to a block. Fees come from the node (``eth_maxPriorityFeePerGas``, falling back to
``eth_feeHistory``), never above ``max_fee_gwei``; a replacement raises both fees by at least
12.5 % (the mempool's replacement rule), so it is accepted instead of refused as underpriced.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from posd.chain.rpc import Rpc, RpcError, hexint
from posd.config.settings import ChainConfig
from posd.errors import Conflict

GWEI = 10**9
BUMP_NUM, BUMP_DEN = 1125, 1000  # +12.5 %: the minimum a node accepts for a replacement


@dataclass(frozen=True)
class Fees:
    max_fee: int
    priority_fee: int

    def bumped(self) -> Fees:
        """At least +12.5 % on both (plus one wei, as integer division rounds down)."""
        return Fees(
            self.max_fee * BUMP_NUM // BUMP_DEN + 1,
            self.priority_fee * BUMP_NUM // BUMP_DEN + 1,
        )

    def at_least(self, other: Fees) -> Fees:
        return Fees(max(self.max_fee, other.max_fee), max(self.priority_fee, other.priority_fee))


class FeeCapReached(Conflict, RuntimeError):
    """The fee a replacement needs is above ``max_fee_gwei``."""

    code = "fee_cap"


def market_fees(rpc: Rpc, base_fee: int, cap_wei: int) -> Fees:
    """Tip from the node; max fee = 2 × base fee + tip (survives six full blocks), capped."""
    try:
        tip = hexint(rpc.call("eth_maxPriorityFeePerGas"))
    except RpcError:
        try:
            hist = rpc.call("eth_feeHistory", hex(5), "latest", [50])
            tips = [hexint(r[0]) for r in hist.get("reward") or [] if r]
            tip = sorted(tips)[len(tips) // 2] if tips else GWEI
        except RpcError:
            tip = GWEI
    tip = min(tip, cap_wei)
    return Fees(min(2 * base_fee + tip, cap_wei), tip)


def replacement_fees(old: Fees, market: Fees, cap_wei: int) -> Fees:
    """Fees for the same nonce: ≥ old + 12.5 % and ≥ the market; FeeCapReached above the cap."""
    fees = old.bumped().at_least(market)
    if fees.priority_fee > fees.max_fee:
        fees = Fees(fees.priority_fee, fees.priority_fee)
    if fees.max_fee > cap_wei:
        raise FeeCapReached(
            f"a replacement needs max fee {fees.max_fee / GWEI:.2f} gwei, above max_fee_gwei "
            f"({cap_wei / GWEI:g})"
        )
    return fees


@dataclass(frozen=True)
class SignedTx:
    raw: bytes
    hash: str
    nonce: int
    fees: Fees
    gas: int


def sign(
    account: LocalAccount,
    chain_id: int,
    to: str,
    data: bytes,
    nonce: int,
    gas: int,
    fees: Fees,
) -> SignedTx:
    """An EIP-1559 transaction signed with the till key, locally (the key never leaves)."""
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to,
        "value": 0,
        "data": data,
        "gas": gas,
        "maxFeePerGas": fees.max_fee,
        "maxPriorityFeePerGas": fees.priority_fee,
    }
    signed = account.sign_transaction(tx)
    return SignedTx(
        bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex(), nonce, fees, gas
    )


def account_of(private_key: bytes) -> LocalAccount:
    return Account.from_key(private_key)


# What a node may answer to eth_sendRawTransaction, by what the sender does next.
def classify_send_error(message: str) -> str:
    """ "known" (already in the pool or mined), "nonce_low", "underpriced", "funds" or "other"."""
    m = message.lower()
    if "already known" in m or "already imported" in m or "known transaction" in m:
        return "known"
    if "nonce too low" in m or "nonce is too low" in m or "old nonce" in m:
        return "nonce_low"
    if "underpriced" in m or "fee too low" in m or "replacement" in m:
        return "underpriced"
    if "insufficient funds" in m or "insufficient balance" in m:
        return "funds"
    return "other"


def broadcast_many(rpc: Rpc, raws: list[bytes]) -> list[str | None]:
    """Send raw transactions in one round trip; per tx None (accepted) or an error class."""
    results = rpc.batch([("eth_sendRawTransaction", ("0x" + raw.hex(),)) for raw in raws])
    out: list[str | None] = []
    for res in results:
        if isinstance(res, RpcError):
            kind = classify_send_error(res.message)
            out.append(None if kind == "known" else f"{kind}:{res.message}")
        else:
            out.append(None)
    return out


class Sender:
    """One till key's signer and broadcaster over one RPC client, with its fee cap.

    The key never leaves the process: transactions are signed here and sent raw.
    """

    def __init__(self, account: LocalAccount, rpc: Rpc, max_fee_gwei: float) -> None:
        self.account = account
        self.rpc = rpc
        self.cap_wei = int(max_fee_gwei * GWEI)
        self._chain_id: int | None = None

    @classmethod
    def for_config(
        cls, private_key: bytes, chain: ChainConfig, rpc_timeout: float = 10.0
    ) -> Sender:
        """The default: the configured node (``rpc_url``) and fee cap (``max_fee_gwei``)."""
        return cls(
            account_of(private_key), Rpc(chain.rpc_url, timeout=rpc_timeout), chain.max_fee_gwei
        )

    @property
    def address(self) -> str:
        return self.account.address

    def chain_id(self) -> int:
        """The node's chain id, asked once (it is in every signature)."""
        if self._chain_id is None:
            self._chain_id = hexint(self.rpc.call("eth_chainId"))
        return self._chain_id

    def market_fees(self, base_fee: int) -> Fees:
        return market_fees(self.rpc, base_fee, self.cap_wei)

    def replacement_fees(self, old: Fees, market: Fees) -> Fees:
        return replacement_fees(old, market, self.cap_wei)

    def sign(self, to: str, data: bytes, nonce: int, gas: int, fees: Fees) -> SignedTx:
        return sign(self.account, self.chain_id(), to, data, nonce, gas, fees)

    def broadcast_many(self, raws: list[bytes]) -> list[str | None]:
        return broadcast_many(self.rpc, raws)


# ------------------------------------------------------------------ one sender per till key


class SenderBusy(Conflict, RuntimeError):
    """Another process (the daemon or a `posd flush`) is sending for this till right now."""

    code = "sender_busy"


class SenderLock:
    """``flock`` on ``<state_dir>/sender.lock``: whoever holds it is the till's only sender.

    The kernel drops the lock when its holder dies (kill -9 included), so a crash never leaves a
    stale lock behind. The daemon takes it per flush round without waiting; ``posd flush`` waits
    for the daemon's round to end, then holds it until the backlog is sent.
    """

    def __init__(self, state_dir: Path | str) -> None:
        self.path = Path(state_dir) / "sender.lock"
        self.fd: int | None = None

    def acquire(self, timeout: float | None = 0.0) -> bool:
        """True once held; with timeout 0 never waits, with None waits for as long as it takes."""
        if self.fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.05)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.fd = fd
            return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> SenderLock:
        if not self.acquire(None):
            raise SenderBusy(str(self.path))
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
