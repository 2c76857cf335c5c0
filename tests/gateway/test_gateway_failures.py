"""The gateway when things go wrong (DESIGN §9), against a real anvil: a claim that reverts on
chain may be tried again, a node outage is 503 relay_unavailable, one gateway per state, a nonce
another transaction took, the daily budget under concurrent claims, the reward actually minted,
and a till that moved stores."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from eth_account import Account
from gateway_kit import (
    RATE,
    RELAYER_KEY,
    STORE,
    CountingRpc,
    RunningGateway,
    World,
    http,
    post_many,
    receipt,
    wait_for,
)

from posd.chain import contracts
from posd.chain.devchain import Anvil
from posd.gateway.budget import store_id, utc_day
from posd.gateway.service import Gateway, GatewayStartError, GatewayTarget

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def world():
    with Anvil() as anvil:
        yield World.create(anvil)


def send_raw(world: World, account, tx: dict) -> str:
    tx = {"chainId": 31337, "nonce": world.w3.eth.get_transaction_count(account.address, "pending"),
          **tx}  # fmt: skip
    return world.w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction).hex()


def test_a_claim_that_reverted_on_chain_can_be_tried_again(world, tmp_path):
    (leaf,) = world.commit([210])
    recipient, other = Account.create().address, Account.create().address
    with RunningGateway(world, tmp_path, bump_after_s=60.0) as gw:
        wait_for(lambda: receipt(gw, world, leaf.seq)["state"] == "claimable")
        world.anvil.rpc("anvil_setAutomine", False)
        try:
            # the dry run passes; then a pause lands in the same block, ahead of the claim
            status, first, _ = http(
                "POST", gw.url + "/api/claims", world.claim_body(leaf.seq, recipient)
            )
            assert status == 202
            pause = world.mining.functions.pause().build_transaction(
                {"from": world.admin.address, "gas": 100_000, "maxFeePerGas": 10**12,
                 "maxPriorityFeePerGas": 10**11, "nonce": 0, "chainId": 31337}
            )  # fmt: skip
            pause.pop("nonce")
            send_raw(world, world.admin, pause)
            world.anvil.rpc("evm_mine")
        finally:
            world.anvil.rpc("anvil_setAutomine", True)
        dead = world.w3.eth.get_transaction_receipt(first["tx_hash"])
        assert dead["status"] == 0 and not world.is_claimed(leaf.seq)
        wait_for(lambda: receipt(gw, world, leaf.seq).get("relay", {}).get("state") == "failed")
        body = receipt(gw, world, leaf.seq)
        assert body["state"] == "claimable"  # nothing was claimed
        # while paused, a new try is refused by its dry run (503 paused), without a transaction
        status, err, _ = http("POST", gw.url + "/api/claims", world.claim_body(leaf.seq, other))
        assert (status, err["error"]["code"]) == (503, "paused")
        contracts.send(world.w3, world.admin, world.mining.functions.unpause())
        # once unpaused, another recipient's claim is not "already claimed": it is made
        status, again, _ = http("POST", gw.url + "/api/claims", world.claim_body(leaf.seq, other))
        assert status == 202 and again["tx_hash"] != first["tx_hash"]
        wait_for(lambda: world.dsg(other) == 210 * RATE)
        wait_for(lambda: receipt(gw, world, leaf.seq)["state"] == "claimed")
        assert world.dsg(recipient) == 0
        # the reverted attempt's gas stays in the store's budget for the day
        assert gw.gateway.db.spent(store_id(STORE), utc_day()) > 0


def test_a_node_outage_is_relay_unavailable(world, tmp_path):
    a, b = world.commit([220, 221])
    proxy = CountingRpc(world.anvil.url)
    try:
        with RunningGateway(world, tmp_path, rpc_url=proxy.url) as gw:
            wait_for(lambda: receipt(gw, world, a.seq)["state"] == "claimable")  # cached now
            proxy.down = True
            # the lookup that needs the node (an uncached reward) and the claim
            status, err, _ = http("GET", f"{gw.url}/api/receipts/{world.till.address}/{b.seq}")
            assert (status, err["error"]["code"]) == (503, "relay_unavailable"), err
            assert "unreachable" in err["error"]["message"]
            recipient = Account.create().address
            for seq in (a.seq, b.seq):
                body = world.claim_body(seq, recipient)
                status, err, _ = http("POST", gw.url + "/api/claims", body)
                assert (status, err["error"]["code"]) == (503, "relay_unavailable"), err
                assert "unreachable" in err["error"]["message"]
            assert gw.gateway.db.claim(world.till.address, a.seq) is None
            proxy.down = False  # back: the same request now goes through
            status, _, _ = http("POST", gw.url + "/api/claims", world.claim_body(a.seq, recipient))
            assert status == 202
            wait_for(lambda: world.dsg(recipient) == 220 * RATE)
    finally:
        proxy.close()


def test_a_second_gateway_on_the_same_state_refuses_to_start(world, tmp_path):
    with RunningGateway(world, tmp_path) as gw:
        cmd = [
            sys.executable, "-m", "posd.cli.main", "gateway", "--rpc", world.anvil.url,
            "--mining", world.mining.address, "--private-key", RELAYER_KEY,
            "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path),
        ]  # fmt: skip
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        assert out.returncode != 0
        assert "another gateway" in out.stderr and "ready" not in out.stdout
        target = GatewayTarget(world.anvil.url, world.mining.address, gw.account, tmp_path)
        with pytest.raises(GatewayStartError, match="another gateway"):
            Gateway(target, gw.gateway.cfg)
    # once it stopped, the state is free again
    target = GatewayTarget(world.anvil.url, world.mining.address, gw.account, tmp_path)
    Gateway(target, gw.gateway.cfg).stop()


def test_a_nonce_taken_by_another_transaction_is_resynced(world, tmp_path):
    first, second = world.commit([230, 231])
    with RunningGateway(world, tmp_path) as gw:
        r1 = Account.create().address
        status, _, _ = http("POST", gw.url + "/api/claims", world.claim_body(first.seq, r1))
        assert status == 202
        wait_for(lambda: world.dsg(r1) == 230 * RATE)
        taken = world.w3.eth.get_transaction_count(gw.account.address, "pending")
        # out of band: a self-transfer from the relayer key takes the nonce the gateway holds next
        send_raw(world, gw.account, {"to": gw.account.address, "value": 0, "gas": 21_000,
                                     "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9})  # fmt: skip
        assert world.w3.eth.get_transaction_count(gw.account.address) == taken + 1
        r2 = Account.create().address
        status, answer, _ = http("POST", gw.url + "/api/claims", world.claim_body(second.seq, r2))
        assert status == 202
        wait_for(lambda: world.dsg(r2) == 231 * RATE)
        row = gw.gateway.db.claim(world.till.address, second.seq)
        assert row.nonce == taken + 1 and world.w3.eth.get_transaction(answer["tx_hash"])
        wait_for(lambda: gw.gateway.db.claim(world.till.address, second.seq).state == "mined")
        # the sequence goes on from there
        (third,) = world.commit([232])
        wait_for(lambda: receipt(gw, world, third.seq)["state"] == "claimable")
        r3 = Account.create().address
        status, _, _ = http("POST", gw.url + "/api/claims", world.claim_body(third.seq, r3))
        assert status == 202
        wait_for(lambda: world.dsg(r3) == 232 * RATE)


def test_concurrent_claims_never_pass_the_daily_budget(world, tmp_path):
    leaves = world.commit([240 + i for i in range(17)])
    # what one claim reserves (gas limit × max fee), learnt from a first claim
    with RunningGateway(world, tmp_path / "a", poll_interval_s=60.0) as gw:
        body = world.claim_body(leaves[0].seq, Account.create().address)
        assert http("POST", gw.url + "/api/claims", body)[0] == 202
        one = gw.gateway.db.claim(world.till.address, leaves[0].seq).cost_wei
    budget = one * 7 // 2  # room for three claims
    with RunningGateway(world, tmp_path / "b", poll_interval_s=60.0, gas_budget_wei=budget) as gw:
        bodies = [world.claim_body(leaf.seq, Account.create().address) for leaf in leaves[1:]]
        answers = post_many(gw.url, bodies)
        accepted = [a for a in answers if a[0] == 202]
        refused = [a for a in answers if a[0] != 202]
        assert all(a[1]["error"]["code"] == "relay_unavailable" for a in refused), refused
        assert 1 <= len(accepted) <= 4
        assert gw.gateway.db.spent(store_id(STORE), utc_day()) <= budget


def test_claimed_shows_the_reward_minted_and_the_transaction(world, tmp_path):
    mine, direct = world.commit([250, 251])
    with RunningGateway(world, tmp_path) as gw:
        recipient = Account.create().address
        status, answer, _ = http(
            "POST", gw.url + "/api/claims", world.claim_body(mine.seq, recipient)
        )
        assert status == 202
        # a claim made without this gateway, from a wallet
        st = receipt(gw, world, direct.seq)
        other = Account.create().address
        sig = bytes.fromhex(world.claim_body(direct.seq, other)["signature"][2:])
        args = (world.till.address, st["batch_index"], direct.seq, st["amount"], st["time"],
                st["claim_address"], st["proof"], other, sig)  # fmt: skip
        tx = contracts.send(world.w3, world.admin, world.mining.functions.claim(*args))
        wait_for(lambda: receipt(gw, world, mine.seq)["state"] == "claimed")
        wait_for(lambda: receipt(gw, world, direct.seq)["state"] == "claimed")
        # the rate doubles afterwards (as a halving changes it): the page still shows what was
        # minted, not today's preview
        contracts.set_rate(world.w3, world.admin, world.mining, "EUR", RATE * 2)
        try:
            time.sleep(0.3)
            body = receipt(gw, world, mine.seq)
            assert (body["reward"], body["recipient"]) == (str(250 * RATE), recipient)
            assert body["tx_hash"] == answer["tx_hash"]
            body = receipt(gw, world, direct.seq)
            assert (body["reward"], body["recipient"]) == (str(251 * RATE), other)
            assert body["tx_hash"] == "0x" + bytes(tx["transactionHash"]).hex()
            assert "relay" not in body
        finally:
            contracts.set_rate(world.w3, world.admin, world.mining, "EUR", RATE)


def test_a_till_that_moved_is_charged_by_the_store_of_the_batch(world, tmp_path):
    (old,) = world.commit([260])
    contracts.register_store(
        world.w3, world.admin, world.mining, "Other Shop", world.admin.address, "EUR", 10**15,
        rate=RATE,
    )  # fmt: skip
    contracts.remove_till(world.w3, world.admin, world.mining, world.till.address)
    contracts.add_till_with_key(
        world.w3, world.admin, world.mining, "Other Shop", bytes(world.till.key)
    )
    (new,) = world.commit([261])
    with RunningGateway(world, tmp_path, stores=[STORE]) as gw:
        wait_for(lambda: receipt(gw, world, new.seq)["state"] == "claimable")
        recipient = Account.create().address
        status, _, _ = http("POST", gw.url + "/api/claims", world.claim_body(old.seq, recipient))
        assert status == 202  # committed while the till was in the served store
        assert gw.gateway.db.claim(world.till.address, old.seq).store_id == store_id(STORE)
        status, err, _ = http("POST", gw.url + "/api/claims", world.claim_body(new.seq, recipient))
        assert (status, err["error"]["code"]) == (403, "store_not_served")
        wait_for(lambda: world.dsg(recipient) == 260 * RATE)
