"""The sale state machine and its one-transaction completion, on a real SQLite file."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from posd.db import meta
from posd.db.meta import Meta
from posd.db.outbox import AlreadyCommitted, Outbox
from posd.db.store import Store
from posd.proof.claimcode import claim_address
from posd.till.barcode import BadBarcode, gtin_check_digit, parse, upce_to_upca
from posd.till.catalog import Product
from posd.till.sale import BadInput, NotFound, SaleError

ROOT = Path(__file__).resolve().parents[2]


def test_check_digits_and_symbologies() -> None:
    assert parse("4006381333931").symbology == "ean13"
    assert parse("96385074").symbology == "ean8"
    assert parse("036000291452").lookup == ("036000291452", "0036000291452")
    assert upce_to_upca("04252614") == "042100005264"
    assert parse("04252614", "upce").lookup[1] == "042100005264"
    for bad in ("4006381333932", "96385075", "036000291453"):
        with pytest.raises(BadBarcode, match="check digit"):
            parse(bad)
    assert gtin_check_digit("400638133393") == 1
    assert parse("CODE-128-X").symbology == "other"


def test_price_embedded_code(register) -> None:
    body = "2112345" + "01234"  # item 2112345, price 12.34
    code = body + str(gtin_check_digit(body))
    line = register.scan(code)
    assert (line.name, line.unit_price, line.total) == ("Cheese (by price)", 1234, 1234)


def test_weight_embedded_code(register) -> None:
    register.embedded = "weight"
    register.catalog.upsert([Product("2112345", "Ham per kg", 1990, Decimal(7))])
    body = "2112345" + "00250"  # 250 g at 19.90 / kg
    line = register.scan(body + str(gtin_check_digit(body)))
    assert line.total == 498  # 4.975 rounded half up


def test_scan_errors_are_clear_and_evented(register) -> None:
    sub = register.bus.subscribe()
    with pytest.raises(BadInput) as bad:
        register.scan("4006381333932")
    assert bad.value.code == "bad_barcode"
    with pytest.raises(NotFound) as unknown:
        register.scan("4000000000006")
    assert unknown.value.code == "unknown_product"
    kinds = [sub.get_nowait()["kind"] for _ in range(2)]
    assert kinds == ["bad_barcode", "unknown_product"]
    with pytest.raises(BadInput):
        register.scan("4006381333931", qty=0)
    assert register.sale.lines == []


def test_quantity_void_cancel(register) -> None:
    register.scan("4006381333931", 3)
    register.scan("5000112637922")
    assert register.sale.total == 3 * 129 + 189
    register.void_line(0)
    assert register.sale.total == 189
    with pytest.raises(NotFound):
        register.void_line(5)
    register.cancel()
    assert register.sale.total == 0
    assert register.store.one("SELECT count(*) FROM events WHERE kind = 'sale_cancelled'")[0] == 1


def test_split_tender_cash_change_and_proof(register, till_keys) -> None:
    register.scan("3017620422003", 2)  # 7.98
    assert register.pay("card", 500, "TERM-42") is None
    with pytest.raises(BadInput):
        register.pay("card", 999)  # a card never pays more than is due
    with pytest.raises(SaleError):
        register.scan("4006381333931")  # no new lines once payment started
    done = register.pay("cash", 500)
    assert (done.seq, done.total, done.paid, done.change) == (1, 798, 1000, 202)
    store = register.store
    assert store.one("SELECT total, change FROM sales WHERE seq = 1")[:] == (798, 202)
    assert [
        r[0] for r in store.query("SELECT tender FROM payments WHERE seq = 1 ORDER BY idx")
    ] == ["card", "cash"]
    proof = Outbox(store).get(1)
    assert proof.amount == 798 and proof.state == "pending"
    assert proof.claim_address == claim_address(till_keys.claim_seed, till_keys.address, 1)
    assert store.one("SELECT count(*) FROM print_jobs WHERE seq = 1")[0] == 1
    # nothing secret in the database
    dump = "\n".join(store.conn.iterdump())
    assert till_keys.claim_seed.hex() not in dump and till_keys.private_key.hex() not in dump


def test_time_never_decreases(register, monkeypatch) -> None:
    register.scan("4006381333931")
    first = register.pay("cash", 200)
    monkeypatch.setattr(time, "time", lambda: first.time - 3600)  # the clock jumps back an hour
    register.scan("4006381333931")
    second = register.pay("cash", 200)
    assert second.time == first.time and second.seq == first.seq + 1


def test_refund_before_and_after_commit(register) -> None:
    register.scan("4006381333931")
    seq = register.pay("cash", 200).seq
    outbox = Outbox(register.store)
    outbox.refund(seq)
    assert outbox.get(seq).amount == 0
    register.scan("4006381333931")
    seq2 = register.pay("cash", 200).seq
    register.store.conn.execute("UPDATE proofs SET state = 'sending' WHERE seq = ?", (seq2,))
    with pytest.raises(AlreadyCommitted):
        outbox.refund(seq2)
    assert outbox.get(seq2).amount == 129


def test_empty_sale_cannot_be_paid(register) -> None:
    with pytest.raises(SaleError) as exc:
        register.pay("cash", 100)
    assert exc.value.code == "empty_sale"


def test_event_log_is_append_only(store) -> None:
    store.log_event("x", {"a": 1})
    with pytest.raises(Exception, match="append-only"):
        store.conn.execute("DELETE FROM events")
    with pytest.raises(Exception, match="append-only"):
        store.conn.execute("UPDATE events SET kind = 'y'")


@pytest.mark.slow
def test_kill_9_during_complete_leaves_whole_sales_and_gap_free_seqs(tmp_path: Path) -> None:
    rng = random.Random(7)
    committed = 0
    for _ in range(25):
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "helpers" / "crash_worker.py"), str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.01, 0.15))
        proc.send_signal(signal.SIGKILL)
        out = proc.communicate()[0].split()
        reported = [int(x) for x in out]
        store = Store(tmp_path / "posd.db")
        seqs = [r[0] for r in store.query("SELECT seq FROM sales ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)), "seqs must stay gap-free"
        if reported:
            assert seqs[-1] >= reported[-1], "a sale reported as done must be there"
        for table in ("proofs", "payments"):
            have = {r[0] for r in store.query(f"SELECT DISTINCT seq FROM {table}")}
            assert have == set(seqs), f"every sale has its {table}, and nothing more"
        lines = store.query("SELECT seq, count(*) FROM sale_lines GROUP BY seq")
        assert all(n == 2 for _, n in lines) and len(lines) == len(seqs)
        assert Meta(store).get(meta.NEXT_SEQ) == len(seqs) + 1
        assert store.one("PRAGMA integrity_check")[0] == "ok"
        store.close()
        assert len(seqs) >= committed
        committed = len(seqs)
    assert committed > 25


def test_a_failed_write_leaves_no_gap_and_the_register_recovers(register) -> None:
    register.catalog.upsert([Product("777", "Cursed item", 777, Decimal(19))])
    register.store.conn.execute(
        "CREATE TRIGGER fail_777 BEFORE INSERT ON proofs WHEN NEW.amount = 777 "
        "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    futures = []
    for code in ("4006381333931", "777", "5000112637922", "4006381333931"):
        register.scan(code)
        futures.append(register.pay("cash", 1000, wait=False))
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(timeout=10).seq)
        except Exception as exc:  # noqa: BLE001 - the failure is what we look at
            outcomes.append(type(exc).__name__)
    assert outcomes[0] == 1 and outcomes[1] == "IntegrityError"
    register.scan("5000112637922")
    last = register.pay("cash", 1000)
    seqs = [r[0] for r in register.store.query("SELECT seq FROM sales ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] == last.seq
    assert {r[0] for r in register.store.query("SELECT seq FROM proofs")} == set(seqs)


def test_pay_is_durable_before_it_returns(register, tmp_path) -> None:
    register.scan("4006381333931")
    done = register.pay("cash", 200)
    other = Store(tmp_path / "posd.db")  # another connection sees it at once
    assert other.one("SELECT total FROM sales WHERE seq = ?", (done.seq,))[0] == 129
    other.close()
