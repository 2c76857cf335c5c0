"""Who the relay pays gas for, and how much (DESIGN §9).

A store allow-list by name (``storeId = keccak(name)``; empty = all), a minimum receipt amount,
a gas budget per store per UTC day (a store with many tiny receipts spends its own budget, not
everyone's) and a low-balance floor for the relayer. The store is the one the receipt's batch was
committed under (the index knows it; a till may move stores later). Every check runs before
anything is signed, so a refused request never spends gas; the relay runs ``check_spend`` under
its nonce lock, in the same step that records the claim, so concurrent claims cannot overshoot.
"""

from __future__ import annotations

import threading
import time

from eth_utils import keccak

from posd.db.gateway import GatewayDb
from posd.gateway.chain import GatewayChain
from posd.gateway.errors import BelowMinimum, RelayUnavailable, StoreNotServed

DAY = 86_400
BALANCE_TTL_S = 2.0


def store_id(name: str) -> str:
    return "0x" + keccak(name.encode("utf-8")).hex()


def utc_day(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // DAY)


class Budget:
    def __init__(
        self,
        db: GatewayDb,
        chain: GatewayChain,
        relayer: str,
        *,
        stores: list[str],
        min_amount: int,
        gas_budget_wei: int,
        min_balance_wei: int,
    ) -> None:
        self.db, self.chain, self.relayer = db, chain, relayer
        self.allowed = {store_id(n) for n in stores}
        self.min_amount = min_amount
        self.gas_budget_wei = gas_budget_wei
        self.min_balance_wei = min_balance_wei
        self._balance: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def check_receipt(self, sid: str, amount: int) -> None:
        """Refuse unless the store ``sid`` (the receipt batch's storeId) is served and the amount
        is high enough."""
        if self.allowed and sid not in self.allowed:
            raise StoreNotServed("this gateway does not pay gas for this receipt's store")
        if amount < self.min_amount:
            raise BelowMinimum(
                f"this gateway relays receipts of at least {self.min_amount} minor units "
                f"(this one: {amount}); claim it from a wallet instead"
            )

    def balance(self) -> int:
        now = time.monotonic()
        with self._lock:
            if self._balance and now - self._balance[0] < BALANCE_TTL_S:
                return self._balance[1]
        value = self.chain.balance(self.relayer)
        with self._lock:
            self._balance = (now, value)
        return value

    def check_spend(self, sid: str, cost_wei: int, day: int) -> None:
        """Refuse when the relayer runs low or the store's budget for ``day`` would be passed
        (the caller records the claim before anyone else checks)."""
        if self.balance() < max(self.min_balance_wei, cost_wei):
            raise RelayUnavailable("the relay is out of gas funds; try again later")
        spent = self.db.spent(sid, day)
        if spent + cost_wei > self.gas_budget_wei:
            raise RelayUnavailable(
                "this store's gas budget for today is spent; try again tomorrow (UTC) or claim "
                "from a wallet"
            )
