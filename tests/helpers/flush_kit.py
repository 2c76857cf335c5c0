"""Helpers for the flusher tests (no tests here): a real anvil with the contracts, a real till."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from posd import proof
from posd.chain import contracts
from posd.chain.devchain import DEV_KEYS, Anvil
from posd.chain.flush import Flusher, flush_all, link_status
from posd.chain.sender import Sender
from posd.config import keyfile
from posd.config.settings import ChainConfig
from posd.db.batches import queue_status as outbox_status
from posd.db.store import Store
from posd.till import identity
from posd.till.catalog import DEMO_PRODUCTS, Catalog
from posd.till.sale import Register, Sale

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
        join(chain, keys)
    return TillKit(path, store, keys, Register(store, catalog, keys))


def join(chain: Chain, keys: keyfile.TillKeys) -> None:
    """The till joins STORE_NAME (its consent signed with its key) and gets ETH for gas."""
    contracts.add_till_with_key(chain.w3, chain.admin, chain.mining, STORE_NAME, keys.private_key)
    chain.rpc("anvil_setBalance", keys.address, hex(10**21))


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


def flusher(
    kit: TillKit, chain: Chain, pipeline: int = 8, sender: type[Sender] | None = None, **kw: Any
) -> Flusher:
    """The till's flusher; ``sender``: a Sender subclass to inject (built from the config)."""
    cfg = chain_config(chain, **kw)
    injected = None if sender is None else sender.for_config(kit.keys.private_key, cfg)
    return Flusher(kit.store, kit.keys.private_key, cfg, pipeline=pipeline, sender=injected)


def local_root(kit: TillKit, first: int, count: int) -> bytes:
    rows = kit.store.query(
        "SELECT seq, amount, time, claim_address FROM proofs WHERE seq >= ? AND seq < ? ORDER BY seq",
        (first, first + count),
    )
    leaves = [proof.Leaf(kit.till, *r) for r in rows]
    assert len(leaves) == count
    return proof.merkle_root([proof.leaf_hash(x) for x in leaves])


def assert_exactly_once(kit: TillKit, chain: Chain, n: int, state: str = "confirmed") -> None:
    """The chain holds seqs 1..n once each, in batches whose roots are the local proofs'."""
    assert chain.next_seq(kit.till) == n + 1
    expect = 1
    for first, count, root in chain.batches(kit.till):
        assert first == expect, "gap or overlap on chain"
        assert root == local_root(kit, first, count)
        expect += count
    assert expect == n + 1
    assert kit.states() == {state: n}
    # the outbox agrees: one live batch per seq, matching the chain
    live = kit.store.query(
        "SELECT first_seq, count, root FROM batches WHERE state IN ('committed', 'confirmed') "
        "ORDER BY first_seq"
    )
    assert [(r[0], r[1], bytes.fromhex(r[2][2:])) for r in live] == chain.batches(kit.till)
    orphans = kit.store.one(
        "SELECT count(*) FROM proofs p JOIN batches b ON p.batch_id = b.id WHERE "
        "p.seq < b.first_seq OR p.seq >= b.first_seq + b.count OR b.state NOT IN "
        "('committed', 'confirmed')"
    )[0]
    assert orphans == 0


def queue_status(store: Store) -> dict:
    """What `posd queue --json` prints: the outbox's counts and the link health."""
    return outbox_status(store, link_status(store))


def run_all(f: Flusher, chain: Chain, timeout: float = 60) -> None:
    flush_all(f, wait_confirmed=True, timeout=timeout, mine=lambda: chain.mine(1))
