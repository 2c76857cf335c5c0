"""The membership pass at the till end to end on a real anvil (DESIGN §11): the shopper earns DSG
by claiming a receipt of this till, stakes it in DSGStaking (contracts/build/DSGStaking.json),
shows a pass signed with the wallet's key; the till reads ``tierOf`` and the discount is on the
sale, on the printed receipt (ESC/POS text) and in the proof's amount. Then the node stops: the
cached tier still gives the discount, and past ``tier_cache_s`` the last known tier (offline)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from eth_account import Account
from helpers.daemon_util import Client, make_daemon
from helpers.escpos_parse import extract_text
from helpers.flush_kit import deploy_chain, join
from helpers.wait import wait_for

from posd.chain import contracts
from posd.chain.claim import claim
from posd.chain.devchain import DEV_KEYS, Anvil
from posd.db.outbox import Outbox
from posd.proof.memberpass import MemberPass

pytestmark = pytest.mark.anvil

RATE = 10**16  # DSG wei per cent
ESPRESSO, TISSUES = "96385074", "036000291452"  # 649 and 249 cents in the demo catalog


def _printed(printer: Path, seq: int) -> str:
    path = printer / "receipts" / f"{seq}.bin"
    wait_for(path.exists, timeout=60, what=f"receipt {seq}", every=0.2)
    return extract_text(path.read_bytes(), "TM-T88III")


def test_stake_pass_discount_receipt_proof_then_offline(tmp_path: Path) -> None:
    with Anvil() as anvil:
        chain = deploy_chain(anvil)
        w3, admin, mining = chain.w3, chain.admin, chain.mining
        contracts.set_rate(w3, admin, mining, "EUR", RATE)
        token = contracts.token_contract(w3, mining.functions.token().call())
        printer = tmp_path / "printer"
        daemon = make_daemon(
            tmp_path / "till",
            [{"kind": "printer", "driver": "simulated", "dir": str(printer)}],
            rpc_url=anvil.url,
            mining_address=mining.address,
            token_address=token.address,
            chain_id=31337,
            confirmations=1,
            flush_interval_s=1,
        )
        join(chain, daemon.keys)
        port = daemon.start()
        api = Client(f"http://127.0.0.1:{port}", daemon.api_token)
        outbox = Outbox(daemon.store)
        try:
            # 1. the shopper buys at this till and claims the receipt's DSG
            shopper = Account.create()
            chain.rpc("anvil_setBalance", shopper.address, hex(10**20))
            assert api.post("/api/scan", {"code": ESPRESSO})[0] == 200
            status, paid = api.post("/api/sale/pay", {"tender": "cash", "amount": 649})
            assert status == 200 and paid["seq"] == 1
            wait_for(
                lambda: outbox.get(1).state == "confirmed",
                timeout=60,
                what="the first proof on chain",
                every=0.2,
                tick=chain.mine,
            )
            relayer = Account.from_key(DEV_KEYS[5])
            assert claim(w3, relayer, paid["claim_url"], shopper.address).reward == 649 * RATE
            dsg = token.functions.balanceOf(shopper.address).call()
            assert dsg == 649 * RATE

            # 2. the platform deploys staking with tiers; the shopper stakes to tier 2
            stable = contracts.deploy_test_stable(w3, admin)
            staking = contracts.deploy_staking(
                w3, admin, token.address, stable.address, tiers=[dsg // 4, dsg // 2, dsg * 10]
            )
            contracts.send(w3, shopper, token.functions.approve(staking.address, dsg))
            contracts.send(w3, shopper, staking.functions.stake(dsg))
            assert staking.functions.tierOf(shopper.address).call() == 2
            daemon.config.chain.staking_address = staking.address

            # 3. the pass at the till: tier 2 → 5 % off (the default [membership] discounts)
            assert api.post("/api/scan", {"code": ESPRESSO})[0] == 200
            assert api.post("/api/scan", {"code": TISSUES})[0] == 200
            valid_until = int(time.time()) + 300
            text = MemberPass.sign(bytes(shopper.key), 31337, staking.address, valid_until).text()
            status, sale = api.post("/api/sale/member", {"pass": text})
            assert status == 200, sale
            member = sale["member"]
            assert member["address"] == shopper.address
            assert (member["tier"], member["discount_percent"], member["source"]) == (2, 5, "chain")
            # 649 × 5 % = 32.45 → 32; 249 × 5 % = 12.45 → 12
            assert member["discount"] == 44 and sale["total"] == 649 + 249 - 44
            status, paid = api.post("/api/sale/pay", {"tender": "cash", "amount": 1000})
            assert status == 200 and paid["total"] == 854 and paid["change"] == 146
            assert outbox.get(paid["seq"]).amount == 854  # the proof: after the discount
            printed = _printed(printer, paid["seq"])
            assert "Member tier 2 (5% off)" in printed and "-€0.44" in printed
            assert "€6.49" in printed and "€8.54" in printed  # the line undiscounted, the total
            wait_for(
                lambda: outbox.get(paid["seq"]).state == "confirmed",
                timeout=60,
                what="the discounted proof on chain",
                every=0.2,
                tick=chain.mine,
            )
            assert mining.functions.batch(daemon.keys.address, 1).call()[1] >= 1

            # 4. the node stops: the cached tier still serves, then the last known (offline)
            anvil.stop()
            assert api.post("/api/scan", {"code": TISSUES})[0] == 200
            fresh = MemberPass.sign(bytes(shopper.key), 31337, staking.address, valid_until + 1)
            status, sale = api.post("/api/sale/member", {"pass": fresh.text()})
            assert status == 200, sale
            assert (sale["member"]["tier"], sale["member"]["source"]) == (2, "cache")
            daemon.config.membership.tier_cache_s = 0  # stale now: the till must ask the node
            again = MemberPass.sign(bytes(shopper.key), 31337, staking.address, valid_until + 2)
            status, sale = api.post("/api/sale/member", {"pass": again.text()})
            assert status == 200, sale
            assert (sale["member"]["tier"], sale["member"]["source"]) == (2, "offline")
            assert "chain unreachable" in sale["member"]["message"]
            assert sale["member"]["discount"] == 12 and sale["total"] == 237
            status, paid = api.post("/api/sale/pay", {"tender": "cash", "amount": 237})
            assert status == 200 and outbox.get(paid["seq"]).amount == 237
            assert "Member tier 2 (5% off)" in _printed(printer, paid["seq"])
        finally:
            daemon.stop()
