"""Finding #2 as demonstrated, against a real `posd run --simulate` and its anvil (DESIGN §2).

Back up posd.db, sell and flush, restore the backup, sell again: the new sale must get a seq above
every one issued, a claim key unlike every earlier receipt's, the lost seqs become zero-amount
fillers, the flusher commits everything gap-free, an old receipt reprints with its own claim key,
and `posd diag` names the case.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import dbfile
from helpers.daemon_util import Client, posd_cli, start_simulate, stop

from posd.config import settings as configmod
from posd.db.outbox import ZERO_ADDRESS
from posd.proof.claimcode import ClaimPayload

pytestmark = pytest.mark.anvil


def _sell(client: Client, n: int) -> list[tuple[int, str]]:
    out = []
    for _ in range(n):
        assert client.post("/api/scan", {"code": "5000112637922"})[0] == 200
        status, done = client.post("/api/sale/pay", {"tender": "cash", "amount": 200})
        assert status == 200, done
        out.append((done["seq"], ClaimPayload.from_url(done["claim_url"]).claim_address))
    return out


def _flush(state: Path) -> None:
    out = posd_cli("--state-dir", str(state), "flush", "--json", "--timeout", "90")
    assert out.returncode == 0, out.stdout + out.stderr


def _chain_next(state: Path, till: str) -> int:
    from web3 import Web3

    from posd.chain import contracts

    rec = json.loads((state / "simulate.json").read_text())
    mining = contracts.mining_contract(
        Web3(Web3.HTTPProvider(rec["rpc_url"])), rec["mining_address"]
    )
    return int(mining.functions.nextSeq(till).call())


def test_restored_backup_never_sells_a_seq_or_claim_key_twice(tmp_path: Path) -> None:
    db = tmp_path / "posd.db"
    proc, lines = start_simulate(tmp_path)
    try:
        client = Client(lines["api"], lines["token"])
        till = client.get("/api/status")[1]["till"]
        before_backup = _sell(client, 2)
        _flush(tmp_path)  # 1..2 on chain
    finally:
        stop(proc)
    dbfile.backup(db, tmp_path / "backup.db")

    proc, lines = start_simulate(tmp_path)
    try:
        client = Client(lines["api"], lines["token"])
        flushed = _sell(client, 3)
        _flush(tmp_path)  # 3..5 on chain
        assert _chain_next(tmp_path, till) == 6
        unflushed = _sell(client, 2)  # 6..7 printed, never committed: lost with the restore
    finally:
        stop(proc)
    earlier = before_backup + flushed + unflushed
    assert [s for s, _ in earlier] == [1, 2, 3, 4, 5, 6, 7]

    dbfile.restore(db, tmp_path / "backup.db")  # the backup over the newer database

    proc, lines = start_simulate(tmp_path)
    try:
        client = Client(lines["api"], lines["token"])
        assert client.get("/api/status")[1]["state"] == "ready"
        (seq, claim), *_ = _sell(client, 1)
        assert seq == 8, "the restored database must continue past every seq the till issued"
        assert claim not in {c for _, c in earlier}, "a claim key was issued twice"
        _flush(tmp_path)
        assert _chain_next(tmp_path, till) == 9  # gap-free: fillers 6..7, then the new sale
        diag = posd_cli("--state-dir", str(tmp_path), "diag", "--json")
        checks = {c["check"]: c for c in json.loads(diag.stdout)["checks"]}
        assert checks["seq_marks"]["status"] == "ok"
        assert "database behind high-water mark: new seed 2" in checks["seq_marks"]["detail"]
        assert "fillers 6..7" in checks["seq_marks"]["detail"]
        assert checks["seq_chain"]["status"] == "ok", checks["seq_chain"]
        status = posd_cli("--state-dir", str(tmp_path), "chain", "status", "--json")
        assert status.returncode == 0, status.stderr
        marks = json.loads(status.stdout)["marks"]
        assert (marks["L"], marks["H"], marks["C"], marks["seed_id"]) == (9, 9, 9, 2)
    finally:
        stop(proc)

    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT seq, amount, claim_address, state FROM proofs ORDER BY seq"
    ).fetchall()
    conn.close()
    assert [r[0] for r in rows] == [1, 2, 6, 7, 8]  # 3..5 are on chain, not in this database
    assert [(r[1], r[2]) for r in rows if r[0] in (6, 7)] == [(0, ZERO_ADDRESS)] * 2
    assert all(r[3] in ("committed", "confirmed") for r in rows), rows

    # an old receipt reprints with its original claim key: seed 1, recorded with the sale
    from posd.receipt.builder import ReceiptBuilder

    cfg = configmod.load(None, state_dir=str(tmp_path))
    configmod.apply_recorded(cfg)
    builder = ReceiptBuilder.open(cfg)
    try:
        reprint = ClaimPayload.from_url(builder.build(1, copy=True).claim_url)
        assert reprint.claim_address == before_backup[0][1]
        assert ClaimPayload.from_url(builder.sale_claim_url(8)).claim_address == claim
    finally:
        builder.store.close()


def test_restored_pending_proofs_committed_with_lost_seqs_are_adopted(tmp_path: Path) -> None:
    """The backup holds seqs 3..4 pending; 5..6 are sold after it and one batch [3..6] commits
    all four; then the backup is restored. The flusher must not halt on that batch: it rebuilds
    5..6 from the batch's calldata, and the new sale flushes after them."""
    db = tmp_path / "posd.db"
    proc, lines = start_simulate(tmp_path)
    try:
        client = Client(lines["api"], lines["token"])
        till = client.get("/api/status")[1]["till"]
        earlier = _sell(client, 2)
        _flush(tmp_path)  # 1..2 on chain
        earlier += _sell(client, 2)  # 3..4 pending in the backup
        dbfile.backup(db, tmp_path / "backup.db")
        earlier += _sell(client, 2)
        _flush(tmp_path)  # one batch: 3..6
        assert _chain_next(tmp_path, till) == 7
    finally:
        stop(proc)
    assert [s for s, _ in earlier] == [1, 2, 3, 4, 5, 6]
    dbfile.restore(db, tmp_path / "backup.db")

    proc, lines = start_simulate(tmp_path)
    try:
        client = Client(lines["api"], lines["token"])
        (seq, claim), *_ = _sell(client, 1)
        assert seq == 7 and claim not in {c for _, c in earlier}
        _flush(tmp_path)  # halted with unknown_batch before the fix
        assert _chain_next(tmp_path, till) == 8
        queue = json.loads(posd_cli("--state-dir", str(tmp_path), "queue", "--json").stdout)
        assert queue["link"].get("alert") is None, queue
    finally:
        stop(proc)
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT p.seq, p.claim_address, p.state, s.kind FROM proofs p JOIN sales s USING (seq) "
        "ORDER BY seq"
    ).fetchall()
    conn.close()
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [(r[0], r[1]) for r in rows[:6]] == earlier  # 5..6: the chain's own records
    assert [r[3] for r in rows] == ["sale"] * 4 + ["adopted"] * 2 + ["sale"]
    assert all(r[2] in ("committed", "confirmed") for r in rows), rows
