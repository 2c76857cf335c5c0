"""DESIGN §2's three marks on real files: L (the database), H (beside the key file), C (chain).

A database restored from a backup must never make the till sell a seq, or a claim key, a second
time: the high-water mark (or the chain's nextSeq) shows the database is behind, the till takes a
new claim seed, continues past every seq it issued, and owes zero-amount fillers for the seqs the
database lost. Real SQLite files and real key files; C is handed in as the flusher would read it
(the real chain is in test_restore_anvil.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from helpers import dbfile
from helpers.daemon_util import provision

from posd.app.diag import seq_checks
from posd.config import keyfile
from posd.config import settings as configmod
from posd.db import meta
from posd.db.meta import Meta
from posd.db.outbox import ZERO_ADDRESS, Outbox
from posd.db.sales import Sales
from posd.db.store import Store
from posd.proof.claimcode import claim_address
from posd.till import identity
from posd.till.catalog import DEMO_PRODUCTS, Catalog
from posd.till.sale import Register, SaleError
from posd.till.salewriter import write_sales
from posd.till.seqmark import SeqMark, SeqMarkError, mark_path

OFFLINE = staticmethod(lambda _till: None)


class Till:
    """A till's state dir: key file, mark and database, opened as the daemon opens them."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.key_path = state / "till.key"
        self.db_path = state / "posd.db"
        if not self.key_path.exists():
            provision(configmod.load(None, state_dir=str(state)))

    def open(self, chain: int | None = None) -> tuple[Store, Register, str]:
        store = Store(self.db_path)
        keys = keyfile.load(self.key_path)
        keys, state = identity.ensure_bound(store, keys, self.key_path, None, lambda _t: chain)
        mark = SeqMark.beside(self.key_path, keys.address)
        guard = identity.SeqGuard(store, self.key_path, None, mark, every_s=0)
        return store, Register(store, Catalog(store), keys, guard=guard), state

    def sell(self, register: Register, n: int) -> list[tuple[int, str]]:
        """n sales: (seq, claim address) of each."""
        out = []
        for _ in range(n):
            register.scan("4006381333931")
            done = register.pay("cash", 200)
            out.append((done.seq, done.claim_address))
        return out


def close(store: Store, register: Register) -> None:
    register.close()
    store.close()


def test_restored_database_sells_past_the_mark_under_a_new_seed(tmp_path: Path) -> None:
    till = Till(tmp_path)
    store, register, state = till.open()
    assert state == "ready"
    first = till.sell(register, 3)
    close(store, register)
    dbfile.backup(till.db_path, tmp_path / "backup.db")
    store, register, _ = till.open()
    later = till.sell(register, 3)  # printed, and maybe committed, before the restore
    close(store, register)
    assert [s for s, _ in first + later] == [1, 2, 3, 4, 5, 6]
    assert SeqMark.beside(till.key_path, keyfile.load(till.key_path).address).read() == 7

    # the attack / the mistake: an older database
    dbfile.restore(till.db_path, tmp_path / "backup.db")
    store, register, state = till.open()  # offline: only the mark knows
    try:
        assert state == "ready"
        (seq, claim), *_ = till.sell(register, 1)
        assert seq == 7, "a restored database must not sell a seq the till already issued"
        assert claim not in {c for _, c in first + later}
        keys = keyfile.load(till.key_path)
        assert keys.seed_id == 2 and keys.seed_ids == [1, 2]
        assert Sales(store).get(7).seed_id == 2 and Sales(store).get(2).seed_id == 1
        case = Meta(store).get(meta.SEQ_CASE)
        assert case["case"] == "database_behind_mark" and case["L"] == 4 and case["H"] == 7
        assert Meta(store).get(meta.SEQ_GAP)["from"] == 4  # fillers owed until C is known
        # the flusher reads C = 4 (1..3 committed before the backup): fillers 4..6, gap-free
        assert Outbox(store).cover_gap(keys.address, 4) == [4, 5, 6]
        for s in (4, 5, 6):
            proof = Outbox(store).get(s)
            assert proof.amount == 0 and proof.claim_address == ZERO_ADDRESS
            assert Sales(store).get(s).filler
        assert [r[0] for r in store.query("SELECT seq FROM proofs ORDER BY seq")] == list(
            range(1, 8)
        )
        times = [r[0] for r in store.query("SELECT time FROM proofs ORDER BY seq")]
        assert times == sorted(times), "proof time never decreases along seq"
        assert Meta(store).get(meta.SEQ_GAP) == {}
        assert Meta(store).get(meta.SEQ_CASE)["fillers"] == [4, 6]
        # an old receipt still derives its own claim key: from seed 1, recorded with the sale
        assert claim_address(keys.seed(1), keys.address, 2) == first[1][1]
        assert Outbox(store).get(2).claim_address == first[1][1]
    finally:
        close(store, register)


def test_diag_names_the_case_and_fails_while_the_chain_disagrees(tmp_path: Path) -> None:
    till = Till(tmp_path)
    store, register, _ = till.open()
    till.sell(register, 2)
    close(store, register)
    dbfile.backup(till.db_path, tmp_path / "backup.db")
    store, register, _ = till.open()
    till.sell(register, 3)
    close(store, register)
    dbfile.restore(till.db_path, tmp_path / "backup.db")
    store, register, _ = till.open()
    close(store, register)
    cfg = configmod.load(None, state_dir=str(tmp_path))
    keys = keyfile.load(till.key_path)
    checks = {c["check"]: c for c in seq_checks(cfg, keys, 3)}
    assert checks["seq_marks"]["status"] == "ok"
    assert "database behind high-water mark: new seed 2" in checks["seq_marks"]["detail"]
    assert checks["seq_chain"]["status"] == "fail"  # seqs 3..5: no proof yet, fillers owed
    assert "3..5" in checks["seq_chain"]["detail"]
    store = Store(till.db_path)
    Outbox(store).cover_gap(keys.address, 3)
    store.close()
    checks = {c["check"]: c for c in seq_checks(cfg, keys, 3)}
    assert checks["seq_chain"]["status"] == "ok"
    assert "fillers 3..5" in checks["seq_marks"]["detail"]
    # the chain ahead of the database (a whole-disk restore, seen online): fail
    checks = {c["check"]: c for c in seq_checks(cfg, keys, 40)}
    assert checks["seq_chain"]["status"] == "fail" and "40" in checks["seq_chain"]["detail"]


def test_chain_ahead_at_start_continues_at_c(tmp_path: Path) -> None:
    """Mark and database both old (a whole-disk restore): only C knows, once online."""
    till = Till(tmp_path)
    store, register, _ = till.open()
    sold = till.sell(register, 2)
    close(store, register)
    store, register, _ = till.open(chain=9)  # the chain has 1..8
    try:
        (seq, claim), *_ = till.sell(register, 1)
        assert seq == 9 and claim not in {c for _, c in sold}
        assert Meta(store).get(meta.SEQ_CASE)["case"] == "database_behind_chain"
        assert Meta(store).get(meta.SEQ_GAP) == {}  # [3, 9) is all on chain: no filler
        assert Outbox(store).get(3) is None
    finally:
        close(store, register)


def test_chain_read_while_running_is_checked_before_the_next_sale(tmp_path: Path) -> None:
    till = Till(tmp_path)
    store, register, _ = till.open()  # offline start
    try:
        till.sell(register, 2)
        Outbox(store).cover_gap(register.till, 20)  # the flusher's first read: C = 20
        (seq, _), *_ = till.sell(register, 1)
        assert seq == 20 and register.keys.seed_id == 2
        (seq, _), *_ = till.sell(register, 1)
        assert seq == 21
    finally:
        close(store, register)


def test_missing_mark_on_an_existing_database_is_created_without_rotation(tmp_path: Path) -> None:
    till = Till(tmp_path)
    store, register, _ = till.open()
    till.sell(register, 4)
    close(store, register)
    path = mark_path(till.key_path)
    path.unlink()  # a till upgraded from before marks existed
    store, register, state = till.open()
    try:
        assert state == "ready"
        assert SeqMark.beside(till.key_path, register.till).read() == 5
        assert keyfile.load(till.key_path).seed_id == 1  # no new seed
        assert Meta(store).get(meta.SEQ_CASE)["case"] == "mark_created"
        assert till.sell(register, 1)[0][0] == 5
        assert os.stat(path).st_mode & 0o777 == 0o600
    finally:
        close(store, register)


@pytest.mark.parametrize(
    "damage", [b"garbage", b"", b"\0" * 512, "another till"], ids=["text", "empty", "zeros", "till"]
)
def test_corrupt_mark_refuses_to_sell_naming_the_file(tmp_path: Path, damage) -> None:
    till = Till(tmp_path)
    store, register, _ = till.open()
    till.sell(register, 1)
    close(store, register)
    path = mark_path(till.key_path)
    if damage == "another till":
        path.unlink()
        SeqMark(path, "0x" + "ab" * 20).set(9)
    else:
        path.write_bytes(damage)
    store = Store(till.db_path)
    try:
        with pytest.raises(SeqMarkError) as err:
            identity.ensure_bound(store, keyfile.load(till.key_path), till.key_path, None, OFFLINE)
        assert str(path) in str(err.value)
        assert err.value.code == "seq_mark"
    finally:
        store.close()
    # a running register whose mark goes bad: the sale fails, nothing is written
    store = Store(till.db_path)
    keys = keyfile.load(till.key_path)
    guard = identity.SeqGuard(
        store, till.key_path, None, SeqMark.beside(till.key_path, keys.address)
    )
    register = Register(store, Catalog(store), keys, guard=guard)
    try:
        register.scan("4006381333931")
        with pytest.raises((SeqMarkError, SaleError)):
            register.pay("cash", 200)
        assert store.one("SELECT count(*) FROM sales")[0] == 1
    finally:
        close(store, register)


def test_mark_is_advanced_before_the_commit(tmp_path: Path) -> None:
    """H ≥ every committed seq even after a power cut: the mark is on disk when COMMIT runs,
    and a mark that cannot be read or written rolls the group back."""
    till = Till(tmp_path)
    store, register, _ = till.open()
    till.sell(register, 2)
    close(store, register)
    keys = keyfile.load(till.key_path)
    path = mark_path(till.key_path)
    store = Store(till.db_path)
    try:
        at_commit: list[int | None] = []
        store.conn.set_trace_callback(
            lambda sql: (
                at_commit.append(SeqMark(path, keys.address).read()) if sql == "COMMIT" else None
            )
        )
        write_sales(store, [_record(keys, 3), _record(keys, 4)], SeqMark(path, keys.address))
        store.conn.set_trace_callback(None)
        assert at_commit == [5]
        path.unlink()
        path.mkdir()  # unreadable: the group must not commit
        with pytest.raises(SeqMarkError) as err:
            write_sales(store, [_record(keys, 5)], SeqMark(path, keys.address))
        assert str(path) in str(err.value)
        assert store.one("SELECT max(seq) FROM sales")[0] == 4
    finally:
        store.close()


def test_torn_mark_write_keeps_the_previous_value(tmp_path: Path) -> None:
    path = tmp_path / "till.key.hwm"
    mark = SeqMark(path, "0x" + "12" * 20)
    mark.advance(5)
    mark.advance(9)
    data = bytearray(path.read_bytes())
    newest = 0 if b'"next_seq":9' in data[:256] else 256
    data[newest + 10 : newest + 20] = b"\xff" * 10  # a power cut in the middle of that write
    path.write_bytes(bytes(data))
    assert SeqMark(path, "0x" + "12" * 20).read() == 5


def test_database_lost_with_mark_sells_offline_past_it(tmp_path: Path) -> None:
    till = Till(tmp_path)
    store, register, _ = till.open()
    sold = till.sell(register, 3)
    close(store, register)
    dbfile.remove(till.db_path)
    store, register, state = till.open()
    try:
        assert state == "ready"  # the mark says where seqs continue: no chain needed
        Catalog(store).upsert(DEMO_PRODUCTS)
        (seq, claim), *_ = till.sell(register, 1)
        assert seq == 4 and claim not in {c for _, c in sold}
        assert Outbox(store).cover_gap(register.till, 2) == [2, 3]
    finally:
        close(store, register)


def test_neither_database_nor_mark_nor_chain_refuses_to_sell(tmp_path: Path) -> None:
    till = Till(tmp_path)
    dbfile.remove(till.db_path)
    mark_path(till.key_path).unlink(missing_ok=True)
    store, register, state = till.open()
    try:
        assert state == "unsynced"
        Catalog(store).upsert(DEMO_PRODUCTS)
        register.scan("4006381333931")
        with pytest.raises(SaleError) as err:
            register.pay("cash", 200)
        assert err.value.code == "till_not_synced"
        assert Meta(store).get(meta.SEQ_CASE)["case"] == "unsynced"
    finally:
        close(store, register)


def test_claim_keys_stay_out_of_sqlite_only_seed_ids(tmp_path: Path) -> None:
    till = Till(tmp_path)
    store, register, _ = till.open(chain=5)
    till.sell(register, 2)
    close(store, register)
    keys = keyfile.load(till.key_path)
    dump = "\n".join(sqlite3.connect(till.db_path).iterdump())
    for seed_id in keys.seed_ids:
        assert keys.seed(seed_id).hex() not in dump
    assert json.loads(mark_path(till.key_path).read_bytes()[:256].split(b" ")[0])["next_seq"]


def _record(keys: keyfile.TillKeys, seq: int):
    from posd.db.sales import SaleRecord

    return SaleRecord(
        seq=seq,
        till=keys.address,
        time=1,
        claim_address=claim_address(keys.claim_seed, keys.address, seq),
        started_at=0.0,
        currency="EUR",
        total=100,
        paid=100,
        change=0,
        lines=[("4006381333931", "x", "1", 100, 100, "19")],
        payments=[("cash", 100, "")],
        events=[],
    )


def test_old_key_file_never_reuses_a_seed_id_nor_prints_a_wrong_key(tmp_path: Path) -> None:
    """A key file restored from before a new seed: that seed's sales refuse to print a key that
    does not match their proof, and the next new seed gets a fresh id."""
    from posd.receipt.builder import ReceiptBuilder

    till = Till(tmp_path)
    old_key_file = till.key_path.read_bytes()
    store, register, _ = till.open(chain=4)  # the chain is ahead: new seed 2, seqs from 4
    sold = till.sell(register, 1)
    close(store, register)
    assert sold[0][0] == 4 and keyfile.load(till.key_path).seed_id == 2
    till.key_path.write_bytes(old_key_file)  # seed 2 is lost
    cfg = configmod.load(None, state_dir=str(tmp_path))
    builder = ReceiptBuilder.open(cfg)
    try:
        with pytest.raises(keyfile.KeyFileError, match="claim seed"):
            builder.build(4, copy=True)
        with pytest.raises(keyfile.KeyFileError, match="claim seed"):
            builder.sale_claim_url(4)
    finally:
        builder.store.close()
    store, register, _ = till.open(chain=9)
    close(store, register)
    assert keyfile.load(till.key_path).seed_id == 3  # not 2: sale 4 recorded seed 2
