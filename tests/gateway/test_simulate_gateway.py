"""`posd run --simulate` runs a claim gateway (DESIGN §9): its `gateway:` line comes before
`ready`, simulate.json records it, a simulated receipt's claim URL points at it and claims
through it; the gateway goes away with the daemon, even after kill -9."""

from __future__ import annotations

import json
import os
import signal

import pytest
from eth_account import Account
from gateway_kit import http
from helpers.daemon_util import Client, posd_cli, start_simulate, stop
from helpers.wait import wait_for

from posd import proof
from posd.proof.claimcode import ClaimPayload

pytestmark = pytest.mark.anvil


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def test_simulate_runs_a_gateway_that_claims(tmp_path):
    proc, got = start_simulate(tmp_path, timeout=120)
    try:
        keys = list(got)  # in the order printed
        assert "gateway" in keys and keys.index("gateway") < keys.index("ready")
        gateway = got["gateway"]
        assert gateway.startswith("http://127.0.0.1:")
        recorded = json.loads((tmp_path / "simulate.json").read_text())
        assert recorded["gateway_url"] == gateway
        status, cfg, _ = http("GET", gateway + "/api/config")
        assert status == 200 and cfg["mining"] == recorded["mining_address"]

        api = Client(got["api"], got["token"])
        assert api.post("/api/scan", {"code": "4006381333931"})[0] == 200
        status, sale = api.post("/api/sale/pay", {"tender": "cash", "amount": 500})
        assert status == 200, sale
        url = sale["claim_url"]
        assert url.startswith(gateway + "#")  # the QR opens the gateway's page
        flushed = posd_cli("flush", "--state-dir", str(tmp_path))
        assert flushed.returncode == 0, flushed.stderr
        payload = ClaimPayload.from_url(url)
        receipt = f"{gateway}/api/receipts/{payload.till}/{payload.seq}"
        wait_for(lambda: http("GET", receipt)[1]["state"] == "claimable", 30, "claimable", 0.3)
        recipient = Account.create().address
        digest = proof.claim_digest(
            payload.chain_id, payload.contract, payload.till, payload.seq, recipient
        )
        signature = "0x" + proof.sign_digest(payload.claim_key, digest).hex()
        body = {"till": payload.till, "seq": payload.seq, "recipient": recipient}
        status, answer, _ = http("POST", gateway + "/api/claims", {**body, "signature": signature})
        assert status == 202, answer
        st = wait_for(
            lambda: (body := http("GET", receipt)[1])["state"] == "claimed" and body,
            30,
            "claimed",
            0.3,
        )
        assert st["recipient"] == recipient and int(st["reward"]) > 0
        gateway_pid = recorded["gateway_pid"]
        assert _alive(gateway_pid)
    finally:
        stop(proc, signal.SIGKILL)  # a power cut of the daemon: its gateway must not linger
    wait_for(lambda: not _alive(gateway_pid), 15, "the gateway to go with its daemon", 0.1)
    anvil_pid = None  # anvil is the daemon's to stop; after kill -9 stop it here (test hygiene)
    for line in os.popen(f"pgrep -f 'anvil.*{tmp_path}'").read().split():
        anvil_pid = int(line)
        os.kill(anvil_pid, signal.SIGTERM)
