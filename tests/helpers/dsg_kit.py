"""Helpers for the DSG payment tests (no tests here): a shopper who got DSG by claiming receipts,
real daemons on a real anvil with [dsg] set, and waiting on a payment's state."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account import Account

from helpers.daemon_util import Client, provision
from helpers.flush_kit import Chain, flusher, make_till, run_all
from posd.app.daemon import Daemon
from posd.chain import contracts
from posd.chain.claim import claim
from posd.chain.devchain import DEV_KEYS
from posd.config import settings as configmod
from posd.proof.claimcode import ClaimPayload, claim_key
from posd.till.catalog import DEMO_PRODUCTS
from posd.till.sale import Sale

PAYOUT = Account.from_key(DEV_KEYS[8]).address
RATE = 10**14  # DSG wei per cent at the till: a 2-euro item costs 0.02 DSG


def token_of(chain: Chain):
    return contracts.token_contract(chain.w3, chain.mining.functions.token().call())


def shopper_with_dsg(chain: Chain, tmp: Path) -> Any:
    """A fresh account whose DSG comes from claiming two real receipts of a real till."""
    shopper = Account.create()
    chain.rpc("anvil_setBalance", shopper.address, hex(10**20))
    contracts.set_rate(chain.w3, chain.admin, chain.mining, "EUR", 10**16)  # 1 DSG per euro
    kit = make_till(tmp, chain)
    product = DEMO_PRODUCTS[0]
    for _ in range(2):
        sale = Sale()
        sale.add(product, Decimal(20), None, "price")
        sale.pay("card", sale.total)
        kit.register.complete(sale)
    run_all(flusher(kit, chain), chain)
    chain_id = chain.w3.eth.chain_id
    for seq in (1, 2):
        row = kit.store.one("SELECT amount, time FROM proofs WHERE seq = ?", (seq,))
        payload = ClaimPayload(
            chain_id, chain.mining.address, kit.till, seq, row[0], "EUR", row[1],
            claim_key(kit.keys.claim_seed, kit.till, seq),
        )  # fmt: skip
        claim(chain.w3, Account.from_key(DEV_KEYS[7]), payload, shopper.address)
    kit.register.close()
    kit.store.close()
    assert token_of(chain).functions.balanceOf(shopper.address).call() > 10**18
    return shopper


def pay(chain: Chain, shopper: Any, amount_wei: int | str, to: str = PAYOUT) -> str:
    receipt = contracts.send(
        chain.w3, shopper, token_of(chain).functions.transfer(to, int(amount_wei))
    )
    return receipt["transactionHash"].to_0x_hex()


def make_dsg_daemon(
    state: Path, chain: Chain, slot: int = 1, keys=None, devices=(), **dsg: Any
) -> Daemon:
    cfg = configmod.load(None, state_dir=str(state))
    cfg.device = list(devices)
    cfg.api.port = 0
    cfg.explicit.add("api.port")
    cfg.chain.rpc_url = chain.anvil.url
    cfg.chain.mining_address = chain.mining.address
    cfg.chain.token_address = chain.mining.functions.token().call()
    cfg.chain.chain_id = 31337
    cfg.chain.confirmations = 2
    cfg.chain.flush_interval_s = 3600
    cfg.dsg.payout_address = PAYOUT
    cfg.dsg.till_slot = slot
    cfg.dsg.rate = RATE
    cfg.dsg.poll_interval_s = 0.1
    for key, value in dsg.items():
        setattr(cfg.dsg, key, value)
    if keys is None:
        provision(cfg)
    return Daemon(cfg, simulate=False)


def client(daemon: Daemon, port: int) -> Client:
    return Client(f"http://127.0.0.1:{port}", daemon.api_token)


def start(c: Client, *codes: str) -> dict[str, Any]:
    """Scan ``codes`` into the cart and ask to pay it in DSG: the open payment (202)."""
    for code in codes:
        assert c.post("/api/scan", {"code": code})[0] == 200
    status, body = c.post("/api/sale/pay", {"tender": "dsg"})
    assert status == 202, body
    return body["payment"]


def wait_state(c: Client, pid: str, *states: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        status, last = c.get(f"/api/payments/{pid}")
        assert status == 200, last
        if last["state"] in states and (last["state"] != "paid" or "seq" in last):
            return last  # a paid request names its sale once the sale is durable
        time.sleep(0.05)
    raise AssertionError(f"payment {pid} never reached {states}: {last}")
