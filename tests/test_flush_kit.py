"""Helpers for the flusher tests (no tests here): a real anvil with the contracts, a real till."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from posd import contracts, identity
from posd import keys as keyfile
from posd.catalog import DEMO_PRODUCTS, Catalog
from posd.config import ChainConfig
from posd.devchain import DEV_KEYS, Anvil
from posd.flusher import Flusher
from posd.sale import Register, Sale
from posd.store import Store

STORE_NAME = "Corner Shop"


@dataclass
class Chain:
    anvil: Anvil
    w3: Web3
    mining: Any
    admin: Any

    def rpc(self, method: str, *params: Any) -> Any:
        return self.anvil.rpc(method, *params)

    def mine(self, n: int = 1) -> None:
        for _ in range(n):
            self.rpc("evm_mine")

    def next_seq(self, till: str) -> int:
        return int(self.mining.functions.nextSeq(till).call())

    def batches(self, till: str) -> list[tuple[int, int, bytes]]:
        n = self.mining.functions.batchCount(till).call()
        return [tuple(self.mining.functions.batch(till, i).call()) for i in range(n)]


def deploy_chain(anvil: Anvil, daily_cap: int = 10**15) -> Chain:
    w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
    admin = Account.from_key(DEV_KEYS[0])
    _, mining = contracts.deploy(w3, admin)
    contracts.register_store(w3, admin, mining, STORE_NAME, admin.address, "EUR", daily_cap)
    return Chain(anvil, w3, mining, admin)


@dataclass
class TillKit:
    dir: Path
    store: Store
    keys: keyfile.TillKeys
    register: Register

    @property
    def till(self) -> str:
        return self.keys.address

    def sell(self, n: int, price_index: int = 0) -> None:
        """n real sales through Register.complete (the sale's one transaction)."""
        product = DEMO_PRODUCTS[price_index]
        for _ in range(n):
            sale = Sale()
            sale.add(product, Decimal(1), None, "price")
            sale.pay("card", sale.total)
            self.register.complete(sale)

    def states(self) -> dict[str, int]:
        return dict(self.store.query("SELECT state, count(*) FROM proofs GROUP BY state"))


def make_till(path: Path, chain: Chain | None, fast: bool = True) -> TillKit:
    path.mkdir(parents=True, exist_ok=True)
    store = Store(path / "posd.db")
    if fast:  # test speed only: the code paths are the same
        store.conn.execute("PRAGMA synchronous=OFF")
    keys = keyfile.generate()
    keyfile.save(path / "till.key", keys)
    catalog = Catalog(store)
    catalog.upsert(DEMO_PRODUCTS)
    identity.bind_new(store, keys)
    if chain is not None:
        contracts.add_till(chain.w3, chain.admin, chain.mining, STORE_NAME, keys.address)
        chain.rpc("anvil_setBalance", keys.address, hex(10**21))
    return TillKit(path, store, keys, Register(store, catalog, keys))


def chain_config(chain: Chain, **kw: Any) -> ChainConfig:
    cfg = ChainConfig(
        rpc_url=chain.anvil.url,
        mining_address=chain.mining.address,
        confirmations=2,
        tx_timeout_s=5,
        max_fee_gwei=1000.0,
    )
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def flusher(kit: TillKit, chain: Chain, pipeline: int = 8, **kw: Any) -> Flusher:
    return Flusher(kit.store, kit.keys.private_key, chain_config(chain, **kw), pipeline=pipeline)
