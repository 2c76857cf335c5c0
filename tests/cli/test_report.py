"""`posd report` (DESIGN §12): the day's totals equal the sales made through the real API.

A daemon sells over HTTP (cash / card / voucher, two tax rates, change, a voided line, a
cancelled sale, a refund); then the `posd report` command, in a subprocess over the same state
dir and a config whose [store] timezone is Asia/Kathmandu (UTC+5:45: a day boundary no UTC
arithmetic gets right by accident), must add up to exactly those sales. `--print` sends the Z
report to a network printer on a 127.0.0.1 TCP listener.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers.daemon_util import Client, make_daemon, posd_cli
from helpers.escpos_parse import FakePrinter, extract_text

TZ = "Asia/Kathmandu"


def _sell(
    client: Client,
    codes: list[tuple[str, int]],
    tenders: list[tuple[str, int]],
    void: int | None = None,
) -> dict:
    for code, qty in codes:
        status, body = client.post("/api/scan", {"code": code, "qty": qty})
        assert status == 200, body
    if void is not None:
        assert client.post("/api/sale/void-line", {"line": void})[0] == 200
    done = None
    for tender, amount in tenders:
        status, done = client.post("/api/sale/pay", {"tender": tender, "amount": amount})
        assert status == 200, done
    assert done["complete"], done
    return done


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    """Four sales, a void, a cancel and a refund on a real till; its config file for the CLI."""
    tmp = tmp_path_factory.mktemp("report")
    state = tmp / "state"
    printer = FakePrinter()
    daemon = make_daemon(state, [])
    port = daemon.start()
    client = Client(f"http://127.0.0.1:{port}", daemon.api_token)
    try:
        # 1: pens 2 x 1.29 (19 %), gummy bears 1.49 (7 %), a cola voided; cash 5.00, change 0.93
        s1 = _sell(
            client,
            [("4006381333931", 2), ("4001686301265", 1), ("5000112637922", 1)],
            [("cash", 500)],
            void=2,
        )
        # 2: hazelnut spread 3.99 (7 %) + tissues 2.49 (19 %) by card
        s2 = _sell(client, [("3017620422003", 1), ("036000291452", 1)], [("card", 648)])
        # 3: espresso beans 6.49 (7 %): voucher 3.00 + cash 4.00, change 0.51
        s3 = _sell(client, [("96385074", 1)], [("voucher", 300), ("cash", 400)])
        # 4: one pen by card, refunded afterwards
        s4 = _sell(client, [("4006381333931", 1)], [("card", 129)])
        assert client.post(f"/api/sales/{s4['seq']}/refund", {})[0] == 200
        # a sale cancelled before payment
        assert client.post("/api/scan", {"code": "5000112637922"})[0] == 200
        assert client.post("/api/sale/cancel", {})[0] == 200
    finally:
        daemon.stop()
    config = tmp / "posd.toml"
    config.write_text(
        f'[store]\nname = "Report Shop"\ntimezone = "{TZ}"\n'
        f'[till]\nstate_dir = "{state}"\n'
        f'[[device]]\nkind = "printer"\ndriver = "escpos-network"\nhost = "{printer.host}"\n'
        f"tcp_port = {printer.port}\n"
    )
    yield config, state, printer, [s1, s2, s3, s4]
    printer.close()


def _report(config: Path, *args: str) -> dict:
    run = posd_cli("--config", str(config), "report", "--json", *args)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _today() -> date:
    return datetime.now(ZoneInfo(TZ)).date()


def test_the_report_adds_up_to_the_sales_made(shop) -> None:
    config, _, _, sold = shop
    r = _report(config, "--day", _today().isoformat())
    assert "not a fiscal closing" in r["note"]
    assert r["timezone"] == TZ and r["day"] == _today().isoformat()
    midnight = datetime.combine(_today(), datetime.min.time(), ZoneInfo(TZ))
    assert r["start"] == int(midnight.timestamp())
    assert r["sales"] == {
        "count": 4,
        "gross": 407 + 648 + 649 + 129,
        "first_seq": sold[0]["seq"],
        "last_seq": sold[3]["seq"],
    }
    assert r["tenders"] == {
        "cash": {"count": 2, "amount": 900 - 93 - 51, "tendered": 900, "change": 93 + 51},
        "card": {"count": 2, "amount": 648 + 129},
        "voucher": {"count": 1, "amount": 300},
    }
    assert sum(t["amount"] for t in r["tenders"].values()) == r["sales"]["gross"]
    # each receipt's own breakdown, summed: 19 %: 258 (tax 41) + 249 (40) + 129 (21);
    # 7 %: 149 (10) + 399 (26) + 649 (42)
    assert r["tax"] == [
        {"rate": "19", "net": 636 - 102, "tax": 102, "gross": 636},
        {"rate": "7", "net": 1197 - 78, "tax": 78, "gross": 1197},
    ]
    assert r["refunds"] == {"count": 1, "amount": 129, "seqs": [sold[3]["seq"]]}
    assert r["voids"] == {
        "lines": 1,
        "amount": 189,
        "cancelled_sales": 1,
        "cancelled_amount": 189,
        "cancelled_lines": 1,
    }
    pending = r["proofs"]["pending"]
    assert pending == {"count": 4, "amount": 1833 - 129}  # the refund zeroed its proof
    assert r["dsg_mined_estimate_wei"] == str(1704 * 10**16)
    assert r["dsg_mined_estimate"] == "17.04 DSG"
    assert "available" in r["dsg_payments"]


def test_days_are_cut_at_the_store_timezone_midnight(shop, tmp_path: Path) -> None:
    config, state, _, sold = shop
    today = _today()
    start = datetime.combine(today, datetime.min.time(), ZoneInfo(TZ)).timestamp()
    # sale 3 was made a second before local midnight: it belongs to yesterday (same UTC date
    # as today's first hours whenever UTC is still on the previous day or not)
    moved, copy = _copy_till(config, state, tmp_path)
    db = sqlite3.connect(copy / "posd.db")
    db.execute("UPDATE sales SET completed_at = ? WHERE seq = ?", (start - 1, sold[2]["seq"]))
    db.commit()
    db.close()
    r_today = _report(moved, "--day", today.isoformat())
    r_before = _report(moved, "--day", (today - timedelta(days=1)).isoformat())
    assert r_today["sales"]["count"] == 3 and r_today["sales"]["gross"] == 1833 - 649
    assert r_before["sales"] == {
        "count": 1,
        "gross": 649,
        "first_seq": sold[2]["seq"],
        "last_seq": sold[2]["seq"],
    }
    assert r_before["tenders"]["voucher"] == {"count": 1, "amount": 300}
    assert r_before["tax"] == [{"rate": "7", "net": 607, "tax": 42, "gross": 649}]
    assert _report(moved, "--day", (today + timedelta(days=1)).isoformat())["sales"]["count"] == 0


def test_default_day_is_today_and_a_bad_day_is_named(shop) -> None:
    config, _, _, _ = shop
    assert _report(config)["day"] == _today().isoformat()
    run = posd_cli("--config", str(config), "report", "--day", "31.12.2026")
    assert run.returncode == 2 and "YYYY-MM-DD" in run.stderr and "Traceback" not in run.stderr


def test_print_sends_a_z_report_to_the_printer(shop) -> None:
    config, _, printer, _ = shop
    before = len(printer.jobs)
    run = posd_cli("--config", str(config), "report", "--print", "--day", _today().isoformat())
    assert run.returncode == 0, run.stderr
    assert "END OF DAY" in run.stdout and "printed on printer:127.0.0.1" in run.stdout
    text = " ".join(extract_text(b"".join(printer.jobs[before:])).split())
    assert "END OF DAY (Z) REPORT" in text and "not a fiscal closing" in text
    assert "Report Shop" in text
    assert "€18.33" in text  # gross sales
    assert "€7.56" in text  # cash kept
    assert "17.04 DSG" in text


def _copy_till(config: Path, state: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the shop's database in its own state dir, for a test to change; a config naming
    it. Returns (config, state dir)."""
    copy = tmp_path / "state"
    copy.mkdir()
    src = sqlite3.connect(state / "posd.db")
    dst = sqlite3.connect(copy / "posd.db")
    src.backup(dst)
    src.close()
    dst.close()
    moved = tmp_path / "posd.toml"
    moved.write_text(config.read_text().replace(str(state), str(copy)))
    return moved, copy


def test_proofs_by_state_follow_the_outboxs_own_transitions(shop, tmp_path: Path) -> None:
    """Every ProofState is in the report (zeros too), counted after the outbox's real moves."""
    from posd.db.outbox import Landed, Outbox, ProofState
    from posd.db.store import Store

    config, state, printer, sold = shop
    moved, copy = _copy_till(config, state, tmp_path)
    store = Store(copy / "posd.db")
    outbox = Outbox(store)
    seqs = [s["seq"] for s in sold]
    proofs = [outbox.get(s) for s in seqs]
    till = proofs[0].till
    batches = []
    for n, p in enumerate(proofs[:3]):  # sale 1 → sending, 2 → committed, 3 → confirmed
        leaf = (p.seq, p.amount, p.time, p.claim_address)
        tx_hash = f"0x{n + 1:064x}"
        batch = outbox.bind_batch(
            till, [leaf], "0x" + "11" * 32, n, 100_000, (2, 1), lambda h=tx_hash: ("0x00", h)
        )
        assert batch is not None
        batches.append(batch)
    outbox.mark_committed(batches[1], Landed(tx_hash="0x" + "01" * 32, block_number=5))
    outbox.mark_committed(batches[2], Landed(tx_hash="0x" + "02" * 32, block_number=6))
    outbox.confirm([batches[2]])
    store.close()

    r = _report(moved, "--day", _today().isoformat())
    assert sorted(r["proofs"]) == sorted(s.value for s in ProofState)
    assert r["proofs"] == {
        "pending": {"count": 1, "amount": 0},  # the refunded sale 4: zeroed, still pending
        "sending": {"count": 1, "amount": 407},
        "committed": {"count": 1, "amount": 648},
        "confirmed": {"count": 1, "amount": 649},
    }
    # the printed Z report lists every state, even one with no proofs in it
    run = posd_cli("--config", str(moved), "report", "--day", _today().isoformat())
    assert run.returncode == 0, run.stderr
    for state_name, count in (("pending", 1), ("sending", 1), ("committed", 1), ("confirmed", 1)):
        assert f"{state_name} ({count})" in run.stdout, run.stdout


def test_an_empty_day_still_lists_every_proof_state(shop) -> None:
    config, _, _, _ = shop
    day = (_today() + timedelta(days=1)).isoformat()
    r = _report(config, "--day", day)
    states = ("pending", "sending", "committed", "confirmed")
    assert r["proofs"] == {s: {"count": 0, "amount": 0} for s in states}
    run = posd_cli("--config", str(config), "report", "--day", day)
    assert "committed (0)" in run.stdout and "sent (" not in run.stdout
