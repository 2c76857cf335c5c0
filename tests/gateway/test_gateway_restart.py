"""`posd gateway` as a process on a real anvil: kill -9 in the middle of many claims and a
restart land every accepted claim exactly once (recorded raw transactions are sent again);
a claim someone else made first is dropped before any fee bump and its nonce filled; SIGTERM
stops it cleanly."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from http.client import HTTPException

import pytest
from eth_account import Account
from gateway_kit import RELAYER_KEY, World, http, wait_for
from helpers.daemon_util import start_posd

from posd.chain import contracts
from posd.chain.devchain import DEV_KEYS, Anvil
from posd.proof.claimcode import claim_key

pytestmark = pytest.mark.anvil

CONFIG = """
[gateway]
claims_per_minute = 100000
poll_interval_s = 0.2
bump_after_s = 1.0
"""


@pytest.fixture(scope="module")
def world():
    with Anvil() as anvil:
        w = World.create(anvil)
        w.commit([200 + i for i in range(80)])
        yield w


def start_gateway(world: World, state) -> tuple[subprocess.Popen, str]:
    (state / "gw.toml").write_text(CONFIG)
    proc, lines = start_posd(
        "gateway", "--rpc", world.anvil.url, "--mining", world.mining.address,
        "--private-key", RELAYER_KEY, "--listen", "127.0.0.1:0", "--state-dir", str(state),
        "--config", str(state / "gw.toml"), timeout=120,
    )  # fmt: skip
    return proc, lines["gateway"]


def claimed_events(world: World) -> list[int]:
    return [int(e["args"]["seq"]) for e in world.claimed_logs()]


def test_kill_9_mid_claims_and_restart_lands_each_once(world, tmp_path):
    relayer = Account.from_key(RELAYER_KEY).address
    nonce0 = world.w3.eth.get_transaction_count(relayer)
    proc, url = start_gateway(world, tmp_path)
    world.anvil.rpc("anvil_setAutomine", False)  # transactions wait in the pool
    seqs = list(range(1, 41))
    recipients = {s: Account.create().address for s in seqs}
    accepted: dict[int, str] = {}
    first = threading.Event()

    def claim(seq: int) -> None:
        try:
            status, body, _ = http(
                "POST", url + "/api/claims", world.claim_body(seq, recipients[seq])
            )
        except (OSError, HTTPException):
            return  # the gateway died under this request: not accepted
        if status == 202:
            accepted[seq] = body["tx_hash"]
            first.set()

    threads = [threading.Thread(target=claim, args=(s,)) for s in seqs]
    for t in threads:
        t.start()
    assert first.wait(30)
    time.sleep(0.05)
    proc.kill()  # kill -9 in the middle of the burst
    proc.wait()
    for t in threads:
        t.join(30)
    assert accepted, "nothing was accepted before the kill"
    world.anvil.rpc("anvil_dropAllTransactions")  # and the node forgot its pool too
    world.anvil.rpc("anvil_setAutomine", True)
    proc, url = start_gateway(world, tmp_path)  # resumes: sends the recorded transactions
    try:
        wait_for(lambda: all(world.is_claimed(s) for s in accepted), 30)
        for s, tx_hash in accepted.items():  # a retry after the restart: the same answer
            status, body, _ = http("POST", url + "/api/claims", world.claim_body(s, recipients[s]))
            assert (status, body["tx_hash"]) == (202, tx_hash)
            assert world.dsg(recipients[s]) == world.leaves[s].amount * 10**16
        events = claimed_events(world)
        assert len(events) == len(set(events))  # exactly once
        assert set(accepted) <= set(events)
        # every relayer transaction is a successful claim: nothing reverted, no nonce reused
        sent = world.w3.eth.get_transaction_count(relayer) - nonce0
        assert sent == len(events)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0  # SIGTERM stops it cleanly


def test_front_run_claim_is_dropped_and_its_nonce_filled(world, tmp_path):
    relayer = Account.from_key(RELAYER_KEY).address
    proc, url = start_gateway(world, tmp_path)
    try:
        world.anvil.rpc("anvil_setAutomine", False)
        seq = 60
        status, body, _ = http(
            "POST", url + "/api/claims", world.claim_body(seq, Account.create().address)
        )
        assert status == 202
        nonce = world.w3.eth.get_transaction(body["tx_hash"])["nonce"]
        world.anvil.rpc("anvil_dropTransaction", body["tx_hash"])  # stuck / lost
        world.anvil.rpc("anvil_setAutomine", True)
        # someone else claims the same receipt directly (they hold the receipt too)
        other = Account.from_key(DEV_KEYS[6])
        st = http("GET", f"{url}/api/receipts/{world.till.address}/{seq}")[1]
        from posd import proof

        mine = Account.create().address
        sig = proof.sign_digest(
            claim_key(world.seed, world.till.address, seq),
            proof.claim_digest(31337, world.mining.address, world.till.address, seq, mine),
        )
        call = world.mining.functions.claim(
            world.till.address, st["batch_index"], seq, st["amount"], st["time"],
            st["claim_address"], [bytes.fromhex(p[2:]) for p in st["proof"]], mine, sig,
        )  # fmt: skip
        contracts.send(world.w3, other, call)
        # the gateway re-checks isClaimed before its bump, and fills the nonce with a cancel
        wait_for(lambda: world.w3.eth.get_transaction_count(relayer) > nonce, 30)
        receipt_state = http("GET", f"{url}/api/receipts/{world.till.address}/{seq}")[1]
        assert receipt_state["recipient"] == mine
        wait_for(
            lambda: (
                http("GET", f"{url}/api/receipts/{world.till.address}/{seq}")[1]["relay"]["state"]
                == "dropped"
            ),
            30,
        )
        block = world.w3.eth.get_block("latest", full_transactions=True)
        ours = [
            tx
            for n in range(max(0, block["number"] - 10), block["number"] + 1)
            for tx in world.w3.eth.get_block(n, full_transactions=True)["transactions"]
            if tx["from"] == relayer and tx["nonce"] == nonce
        ]
        assert len(ours) == 1 and ours[0]["to"] == relayer and ours[0]["input"] in (b"", "0x")
        assert world.w3.eth.get_transaction_receipt(ours[0]["hash"])["gasUsed"] == 21_000
        # the nonces after it are free: the next claim lands
        status, body, _ = http(
            "POST", url + "/api/claims", world.claim_body(61, Account.create().address)
        )
        assert status == 202
        wait_for(lambda: world.is_claimed(61), 30)
    finally:
        world.anvil.rpc("anvil_setAutomine", True)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
