"""Shared helpers for the contract tests: titanoboa deployments of the Vyper sources and a small
world (admin, store, tills with keys, claim seeds) that tests drive; ``deploy_source`` puts a
test-only Vyper contract on a real node."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import boa
from eth_account import Account

from posd import proof
from posd.chain.contracts import send, store_id
from posd.proof.claimcode import address_of, claim_key

ROOT = Path(__file__).resolve().parents[2]
TOKEN_SRC = ROOT / "contracts" / "DSGToken.vy"
MINING_SRC = ROOT / "contracts" / "DSGMining.vy"
MAX_SUPPLY = 21_000_000 * 10**18
RATE = 10**16  # DSG wei per cent
DAY = 86400
T0 = 1_764_000_000  # 2025-11-24T16:00:00Z
_deadline_jitter = itertools.count()


@cache
def token_deployer():
    return boa.load_partial(str(TOKEN_SRC))


@cache
def mining_deployer():
    return boa.load_partial(str(MINING_SRC))


def deploy(max_supply: int = MAX_SUPPLY, *, at: str | None = None):
    """(token, mining) from the sources; the mining constructor creates the token."""
    blueprint = token_deployer().deploy_as_blueprint()
    kwargs = {"override_address": at} if at else {}
    mining = mining_deployer().deploy(blueprint.address, max_supply, **kwargs)
    token = token_deployer().at(mining.token())
    return token, mining


def deploy_source(w3, sender, source: str, *args):
    """Compile Vyper ``source`` in process and deploy it with ``args`` on ``w3``'s node."""
    import vyper

    out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    factory = w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
    address = send(w3, sender, factory.constructor(*args))["contractAddress"]
    return w3.eth.contract(address=address, abi=out["abi"])


def chain_id() -> int:
    return boa.env.evm.patch.chain_id


def reason(name: str):
    """pytest.raises-like context for a revert whose reason string is ``name``."""
    return boa.reverts(name)


@dataclass
class Till:
    key: bytes
    address: str
    seed: bytes = field(default_factory=lambda: os.urandom(32))

    @classmethod
    def new(cls) -> Till:
        acct = Account.create()
        return cls(key=bytes(acct.key), address=acct.address)

    def leaf(self, seq: int, amount: int, time: int | None = None) -> proof.Leaf:
        return proof.Leaf(
            till=self.address,
            seq=seq,
            amount=amount,
            time=T0 + seq if time is None else time,
            claim_address=address_of(claim_key(self.seed, self.address, seq)),
        )

    def claim_key(self, seq: int) -> bytes:
        return claim_key(self.seed, self.address, seq)

    def consent(self, mining, store: bytes, deadline: int | None = None) -> tuple[int, bytes]:
        """(deadline, signature): this till's JoinStore consent to ``store``, by default valid
        for about an hour (a consent is single-use: each default deadline differs, as a real
        till's would by the clock)."""
        if deadline is None:
            deadline = boa.env.evm.patch.timestamp + 3600 + next(_deadline_jitter)
        digest = proof.join_store_digest(chain_id(), mining.address, store, self.address, deadline)
        return deadline, proof.sign_digest(self.key, digest)


def add_till(mining, store: bytes, till: Till, sender: str, deadline: int | None = None) -> None:
    """addTill by ``sender`` (a store owner or the admin) with the till's fresh consent."""
    with boa.env.prank(sender):
        mining.addTill(store, till.address, *till.consent(mining, store, deadline))


@dataclass
class World:
    token: object
    mining: object
    admin: str
    owner: str
    store: bytes
    till: Till
    batches: dict = field(default_factory=dict)  # (till, index) -> leaves

    @classmethod
    def create(cls, max_supply: int = MAX_SUPPLY, cap: int = 10**12) -> World:
        boa.env.evm.patch.timestamp = T0
        token, mining = deploy(max_supply)
        admin = boa.env.eoa
        owner = boa.env.generate_address("store-owner")
        sid = store_id("Corner Shop")
        mining.registerStore(sid, owner, b"EUR", cap)
        mining.setRate(b"EUR", RATE)
        till = Till.new()
        add_till(mining, sid, till, owner)
        return cls(token, mining, admin, owner, sid, till)

    def new_till(self) -> Till:
        till = Till.new()
        add_till(self.mining, self.store, till, self.owner)
        return till

    def commit(self, till: Till | None = None, amounts=(100, 200, 300), first: int | None = None):
        """Commit a batch for ``till`` (default: the world's till) and remember its leaves."""
        till = till or self.till
        first = self.mining.nextSeq(till.address) if first is None else first
        leaves = [till.leaf(first + i, a) for i, a in enumerate(amounts)]
        with boa.env.prank(till.address):
            index = self.mining.commitBatch(first, proof.encode_records(leaves))
        self.batches[(till.address, index)] = leaves
        return index, leaves

    def claim_args(self, till: Till, index: int, seq: int, recipient: str, signer_key=None):
        leaves = self.batches[(till.address, index)]
        hashes = [proof.leaf_hash(x) for x in leaves]
        i = seq - leaves[0].seq
        leaf = leaves[i]
        digest = proof.claim_digest(chain_id(), self.mining.address, till.address, seq, recipient)
        sig = proof.sign_digest(signer_key or till.claim_key(seq), digest)
        return [
            till.address,
            index,
            seq,
            leaf.amount,
            leaf.time,
            leaf.claim_address,
            proof.merkle_proof(hashes, i),
            recipient,
            sig,
        ]
