"""A till never reuses a seq: a key file its database does not know gets a new claim seed and
waits for the chain's nextSeq before it sells (DESIGN §2)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from helpers import dbfile
from helpers.daemon_util import Client, start_simulate, stop

from posd.app.daemon import Daemon
from posd.config import keyfile
from posd.config import settings as configmod
from posd.db import meta
from posd.db.meta import Meta
from posd.till.catalog import DEMO_PRODUCTS

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_key_file_offline_refuses_to_sell(tmp_path: Path) -> None:
    cfg = configmod.load(None, state_dir=str(tmp_path))
    cfg.device = [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")}]
    cfg.chain.rpc_url = "http://127.0.0.1:9"  # nothing there: offline
    cfg.chain.mining_address = "0x" + "11" * 20
    cfg.api.port = 0  # any free port: the default may be taken by a running till
    cfg.explicit.add("api.port")
    old = keyfile.generate()
    keyfile.save(cfg.key_file, old)  # a key file, but no database: the database was lost
    daemon = Daemon(cfg)
    port = daemon.start()
    try:
        assert daemon.till_state == "unsynced"
        new = keyfile.load(cfg.key_file)
        assert new.private_key == old.private_key and new.claim_seed != old.claim_seed
        daemon.catalog.upsert(DEMO_PRODUCTS)
        client = Client(f"http://127.0.0.1:{port}", daemon.api_token)
        assert client.post("/api/scan", {"code": "4006381333931"})[0] == 200
        status, body = client.post("/api/sale/pay", {"tender": "cash", "amount": 500})
        assert status == 409 and body["error"]["code"] == "till_not_synced"
        assert "posd chain status" in body["error"]["message"]
        assert daemon.store.one("SELECT count(*) FROM sales")[0] == 0
    finally:
        daemon.stop()


@pytest.mark.anvil
def test_lost_database_continues_from_chain_with_a_new_seed(tmp_path: Path) -> None:
    proc, lines = start_simulate(tmp_path)
    try:
        client = Client(lines["api"], lines["token"])
        for _ in range(3):
            client.post("/api/scan", {"code": "5000112637922"})
            assert client.post("/api/sale/pay", {"tender": "cash", "amount": 200})[0] == 200
    finally:
        stop(proc)
    seed_before = keyfile.load(tmp_path / "till.key").claim_seed
    dbfile.remove(tmp_path / "posd.db")
    proc, lines = start_simulate(tmp_path)
    try:
        client = Client(lines["api"], lines["token"])
        status = client.get("/api/status")[1]
        assert status["state"] == "ready"
        assert keyfile.load(tmp_path / "till.key").claim_seed != seed_before
        from posd.chain.rpc import MiningClient, Rpc
        from posd.proof.leaf import decode_records

        rec = json.loads((tmp_path / "simulate.json").read_text())
        mining = MiningClient(Rpc(rec["rpc_url"]), rec["mining_address"])
        till = status["till"]
        client.post("/api/scan", {"code": "5000112637922"})
        status, done = client.post("/api/sale/pay", {"tender": "cash", "amount": 200})
        # the high-water mark beside the key file remembers seqs 1..3 (DESIGN §2): never again
        assert status == 200 and done["seq"] == 4
        # whatever the first run committed before it stopped, the chain ends up gap-free: the
        # seqs it lacked are committed as zero-amount fillers (the flusher may send them at any
        # moment after the start, so wait for them instead of racing it)
        deadline = time.monotonic() + 60
        while mining.next_seq(till) < 4:
            assert time.monotonic() < deadline, "seqs 1..3 never reached the chain"
            time.sleep(0.5)
        committed: dict[int, int] = {}
        for log in mining.commit_logs(till, 0):
            tx = mining.rpc.call("eth_getTransactionByHash", log["tx_hash"])
            for leaf in decode_records(*mining.commit_of(tx)):
                committed[leaf.seq] = leaf.amount
    finally:
        stop(proc)
    conn = sqlite3.connect(tmp_path / "posd.db")
    fillers = conn.execute("SELECT seq, amount FROM proofs WHERE seq < 4 ORDER BY seq").fetchall()
    conn.close()
    # every local row below 4 is a filler, for exactly the seqs the chain did not have before
    assert all(amount == 0 for _, amount in fillers)
    assert [seq for seq, _ in fillers] == [s for s in (1, 2, 3) if committed[s] == 0]
    assert all(committed[s] == 200 for s in (1, 2, 3) if (s, 0) not in fillers)


@pytest.mark.anvil
def test_power_cut_leaves_nothing_that_blocks_the_next_start(tmp_path: Path) -> None:
    proc, lines = start_simulate(tmp_path)
    client = Client(lines["api"], lines["token"])
    client.post("/api/scan", {"code": "5000112637922"})
    assert client.post("/api/sale/pay", {"tender": "cash", "amount": 200})[0] == 200
    anvil_pids = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    for pid in anvil_pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc, lines = start_simulate(tmp_path)
    try:
        client = Client(lines["api"], lines["token"])
        client.post("/api/scan", {"code": "5000112637922"})
        status, done = client.post("/api/sale/pay", {"tender": "cash", "amount": 200})
        assert status == 200 and done["seq"] == 2
    finally:
        stop(proc)


@pytest.mark.anvil
def test_chain_id_is_asked_of_the_node_once_and_remembered(tmp_path: Path) -> None:
    from helpers.daemon_util import make_daemon

    from posd.chain.devchain import Anvil
    from posd.receipt.spooler import ReceiptBuilder

    with Anvil() as node:
        daemon = make_daemon(
            tmp_path,
            [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")}],
            rpc_url=node.url,
            mining_address="0x" + "11" * 20,
        )
        try:
            assert daemon.chain_id == 31337
            assert Meta(daemon.store).get(meta.CHAIN_ID) == 31337
        finally:
            daemon.stop()
    cfg = configmod.load(None, state_dir=str(tmp_path))
    cfg.chain.mining_address = "0x" + "11" * 20
    builder = ReceiptBuilder.open(cfg)  # `posd receipt`, node gone: the remembered id
    assert builder.chain_id == 31337
    builder.store.close()
