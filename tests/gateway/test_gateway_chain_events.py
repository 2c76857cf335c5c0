"""The gateway as the chain moves under it, on a real anvil: ``[gateway] confirmations`` (a batch
is claimable and a claim counts only that deep; a claim a reorg takes out of its block is sent
again), the event index following a reorg, and a fee bump that then lands exactly once."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from gateway_kit import RATE, RunningGateway, World, http, receipt, wait_for
from web3.exceptions import TransactionNotFound

from posd.chain.devchain import Anvil

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def world():
    with Anvil() as anvil:
        w = World.create(anvil)
        w.commit([100 + i for i in range(10)])
        yield w


def claimed_events(world: World, seq: int) -> list:
    return [e for e in world.claimed_logs() if int(e["args"]["seq"]) == seq]


def metric(gw: RunningGateway, name: str) -> float:
    return gw.gateway.metrics.registry.get_sample_value(name) or 0.0


def has_receipt(world: World, tx_hash: str) -> bool:
    try:
        world.w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return False
    return True


def attempts(gw, till: str, seq: int) -> list[str]:
    """The transactions the gateway signed for the claim under its current nonce."""
    return gw.gateway.db.attempt_hashes(till, seq, gw.gateway.db.claim(till, seq).nonce)


def test_claim_counts_only_after_confirmations_and_a_reorg_resends_it(world, tmp_path):
    with RunningGateway(world, tmp_path, confirmations=3, bump_after_s=60.0) as gw:
        (leaf,) = world.commit([150])
        time.sleep(1.0)  # several loop rounds: the batch is 1 block deep, not 3
        assert receipt(gw, world, leaf.seq)["state"] == "pending"
        world.anvil.rpc("anvil_mine", "0x2")
        wait_for(lambda: receipt(gw, world, leaf.seq)["state"] == "claimable")

        snapshot = world.anvil.rpc("evm_snapshot")
        recipient = Account.create().address
        status, answer, _ = http(
            "POST", gw.url + "/api/claims", world.claim_body(leaf.seq, recipient)
        )
        assert status == 202
        wait_for(lambda: has_receipt(world, answer["tx_hash"]))  # mined: 1 block deep
        time.sleep(1.0)
        body = receipt(gw, world, leaf.seq)
        assert (body["state"], body["relay"]["state"]) == ("claimable", "sent")

        world.anvil.rpc("anvil_setAutomine", False)  # hold what is sent in the pool
        try:
            world.anvil.rpc("evm_revert", snapshot)  # a reorg takes the claim's block away
            assert not has_receipt(world, answer["tx_hash"]) and not world.is_claimed(leaf.seq)
            # the relay kept the raw transaction and sends it again (the same one: no fee bump)
            wait_for(lambda: metric(gw, "posd_gateway_claims_resent_total") >= 1)
            pool = world.anvil.rpc("txpool_content")["pending"]
            assert answer["tx_hash"] in str(pool)
            world.anvil.rpc("evm_mine")
        finally:
            world.anvil.rpc("anvil_setAutomine", True)
        wait_for(lambda: world.is_claimed(leaf.seq))
        assert has_receipt(world, answer["tx_hash"])
        time.sleep(0.6)
        assert receipt(gw, world, leaf.seq)["state"] == "claimable"  # 1 deep again
        world.anvil.rpc("anvil_mine", "0x2")
        wait_for(lambda: receipt(gw, world, leaf.seq)["state"] == "claimed")
        # the index and the relay's confirmation run one after the other in the loop
        wait_for(lambda: receipt(gw, world, leaf.seq)["relay"]["state"] == "mined")
        body = receipt(gw, world, leaf.seq)
        assert body["recipient"] == recipient and body["tx_hash"] == answer["tx_hash"]
        assert len(claimed_events(world, leaf.seq)) == 1
        assert world.dsg(recipient) == 150 * RATE


def test_index_forgets_a_reorged_batch_and_finds_the_new_one(world, tmp_path):
    till = world.till.address
    with RunningGateway(world, tmp_path) as gw:
        snapshot = world.anvil.rpc("evm_snapshot")
        old = world.commit([111, 222])
        first = old[0].seq
        wait_for(lambda: receipt(gw, world, first).get("amount") == 111)
        batches = gw.gateway.db.batch_count()

        world.anvil.rpc("evm_revert", snapshot)
        new = world.commit([333, 444, 555])  # the same seqs, another batch in the same block
        assert new[0].seq == first
        wait_for(lambda: receipt(gw, world, first).get("amount") == 333)
        assert gw.gateway.db.batch_count() == batches  # the old batch is gone, not kept beside
        for leaf in new:
            body = receipt(gw, world, leaf.seq)
            assert body["state"] == "claimable"
            assert (body["amount"], body["reward"]) == (leaf.amount, str(leaf.amount * RATE))
            assert body["claim_address"] == leaf.claim_address
        assert receipt(gw, world, first + 3) == {
            "state": "pending",
            "till": till,
            "seq": first + 3,
            "next_seq": first + 3,
        }
        # the new receipt is claimable for real: its proof is the new batch's
        recipient = Account.create().address
        last = new[-1].seq
        status, _, _ = http("POST", gw.url + "/api/claims", world.claim_body(last, recipient))
        assert status == 202
        wait_for(lambda: receipt(gw, world, last)["state"] == "claimed")
        assert world.dsg(recipient) == 555 * RATE


def test_a_stuck_claim_is_bumped_and_lands_once(world, tmp_path):
    (leaf,) = world.commit([170])
    recipient = Account.create().address
    with RunningGateway(world, tmp_path, bump_after_s=1.0) as gw:
        world.anvil.rpc("anvil_setAutomine", False)  # nothing is mined: the claim gets stuck
        try:
            status, answer, _ = http(
                "POST", gw.url + "/api/claims", world.claim_body(leaf.seq, recipient)
            )
            assert status == 202
            original = world.w3.eth.get_transaction(answer["tx_hash"])
            # an attempt is recorded before it is broadcast (write-ahead), so wait until the
            # node holds the newest one
            bumped: dict = {}

            def node_has_replacement() -> bool:
                if len(attempts(gw, world.till.address, leaf.seq)) < 2:
                    return False
                latest = gw.gateway.db.claim(world.till.address, leaf.seq).tx_hash
                try:
                    bumped.update(world.w3.eth.get_transaction(latest))
                except TransactionNotFound:
                    return False
                return latest != answer["tx_hash"]

            wait_for(node_has_replacement)
            # the node took the replacement: same nonce, both fees ≥ +12.5 %
            assert bumped["nonce"] == original["nonce"]
            assert bumped["maxFeePerGas"] * 1000 >= original["maxFeePerGas"] * 1125
            assert bumped["maxPriorityFeePerGas"] * 1000 >= original["maxPriorityFeePerGas"] * 1125
            assert bumped["input"] == original["input"]  # the same claim, only dearer
            world.anvil.rpc("evm_mine")
        finally:
            world.anvil.rpc("anvil_setAutomine", True)
        wait_for(lambda: receipt(gw, world, leaf.seq)["state"] == "claimed")
        hashes = attempts(gw, world.till.address, leaf.seq)
        landed = [h for h in hashes if has_receipt(world, h)]
        assert len(landed) == 1 and landed[0] != answer["tx_hash"]
        assert world.w3.eth.get_transaction_receipt(landed[0])["status"] == 1
        assert len(claimed_events(world, leaf.seq)) == 1
        assert world.dsg(recipient) == 170 * RATE
        assert gw.gateway.db.claim(world.till.address, leaf.seq).state == "mined"
        assert metric(gw, "posd_gateway_fee_bumps_total") >= 1
