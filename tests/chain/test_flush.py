"""The flusher against a real anvil: happy path, node down, node rolled back, dropped, stuck,
reorged, already-there, alerts, daily cap, offline, the sender lock, the scheduler."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.flush_kit import (
    Chain,
    assert_exactly_once,
    chain_config,
    deploy_chain,
    flusher,
    join,
    make_till,
    queue_status,
    run_all,
)
from helpers.wait import wait_for

from posd import proof
from posd.chain.devchain import Anvil, free_port
from posd.chain.flush import Flusher, Halted, flush_all, flush_once, link_status
from posd.chain.rpc import LinkDown, chain_next_seq
from posd.chain.sender import Sender, SenderLock
from posd.config.settings import Config
from posd.db.store import Store

pytestmark = pytest.mark.anvil


@pytest.fixture
def own_chain():
    with Anvil() as anvil:
        yield deploy_chain(anvil)


def test_happy_path_1000_sales(chain: Chain, tmp_path: Path) -> None:
    kit = make_till(tmp_path / "till", chain)
    kit.sell(1000)
    assert kit.states() == {"pending": 1000}
    seen = []
    f = flusher(kit, chain)
    flush_all(
        f,
        progress=lambda d, t: seen.append((d, t)),
        wait_confirmed=True,
        timeout=60,
        mine=lambda: chain.mine(1),
    )
    assert_exactly_once(kit, chain, 1000)
    assert seen[-1] == (1000, 1000)
    assert [b[1] for b in chain.batches(kit.till)] == [256, 256, 256, 232]
    status = queue_status(kit.store)
    assert status["counts"]["confirmed"] == 1000 and status["oldest_pending_age_s"] is None
    assert status["link"]["state"] == "online"
    assert chain_next_seq(chain.anvil.url, chain.mining.address, kit.till) == 1001
    # sales keep coming: the next flush continues at 1001
    kit.sell(3)
    run_all(flusher(kit, chain), chain)
    assert_exactly_once(kit, chain, 1003)


def test_chain_next_seq_offline() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert chain_next_seq(url, "0x" + "11" * 20, "0x" + "22" * 20) is None


def test_offline_then_online(tmp_path: Path) -> None:
    port = free_port()
    kit = make_till(tmp_path / "till", None)
    kit.sell(20)
    cfg = chain_config(
        SimpleNamespace(
            anvil=SimpleNamespace(url=f"http://127.0.0.1:{port}"),
            mining=SimpleNamespace(address="0x" + "11" * 20),
        )
    )
    f = Flusher(kit.store, kit.keys.private_key, cfg)
    with pytest.raises(LinkDown):
        flush_once(f)
    assert link_status(kit.store)["state"] == "offline"
    assert "offline" in queue_status(kit.store)["last_error"]
    kit.sell(5)  # selling goes on while offline
    assert kit.states() == {"pending": 25}
    with Anvil(port=port) as anvil:
        chain = deploy_chain(anvil)
        join(chain, kit.keys)
        run_all(flusher(kit, chain), chain)
        assert_exactly_once(kit, chain, 25)
        assert link_status(kit.store)["state"] == "online"


def test_node_stopped_mid_flush_and_restarted(tmp_path: Path) -> None:
    state = tmp_path / "anvil.json"
    anvil = Anvil(state_file=state).start()
    try:
        chain = deploy_chain(anvil)
        kit = make_till(tmp_path / "till", chain)
        kit.sell(400)
        f = flusher(kit, chain, max_batch=20, pipeline=4)
        flush_once(f)
        flush_once(f)
        assert kit.states().get("pending", 0) > 0
        anvil.stop()  # clean stop: state dumped
        with pytest.raises(LinkDown):
            flush_once(f)
        kit.sell(10)
        anvil = Anvil(state_file=state, port=anvil.port).start()
        chain.anvil = anvil
        run_all(f, chain)
        assert_exactly_once(kit, chain, 410)
    finally:
        anvil.stop()


def test_node_killed_loses_its_last_blocks(tmp_path: Path) -> None:
    state = tmp_path / "anvil.json"
    anvil = Anvil(state_file=state).start()
    try:
        chain = deploy_chain(anvil)
        kit = make_till(tmp_path / "till", chain)
        kit.sell(300)
        f = flusher(kit, chain, max_batch=50, pipeline=3)
        run_all(f, chain)
        time.sleep(2.5)  # dumped to the state file
        before = int(anvil.rpc("eth_blockNumber"), 16)
        # what the disk holds at this moment: the power cut below loses everything after it
        # (anvil dumps every second, so a real cut loses up to a second; this makes it certain)
        saved = state.read_bytes()
        kit.sell(300)
        flush_all(f, timeout=30)  # committed, maybe confirmed: then a power cut
        flush_once(f)
        chain.mine(3)
        flush_once(f)
        assert kit.states().get("confirmed", 0) > 300
        anvil.kill()
        state.write_bytes(saved)
        anvil = Anvil(state_file=state, port=anvil.port).start()
        chain.anvil = anvil
        after = int(anvil.rpc("eth_blockNumber"), 16)
        assert after <= before + 1, "the kill should have lost blocks"
        assert chain.next_seq(kit.till) == 301
        run_all(f, chain)
        assert_exactly_once(kit, chain, 600)
        # a fresh flusher (a restarted daemon) agrees and has nothing to do
        g = flusher(kit, chain)
        run_all(g, chain)
        assert_exactly_once(kit, chain, 600)
    finally:
        anvil.stop()


def test_dropped_transaction_is_sent_again(own_chain: Chain, tmp_path: Path) -> None:
    chain = own_chain
    kit = make_till(tmp_path / "till", chain)
    kit.sell(100)
    chain.rpc("anvil_setAutomine", False)
    f = flusher(kit, chain, max_batch=100)
    flush_once(f)
    (h,) = json.loads(kit.store.one("SELECT tx_hashes FROM batches")[0])
    assert chain.rpc("eth_getTransactionByHash", h) is not None
    chain.rpc("anvil_dropTransaction", h)
    assert chain.rpc("eth_getTransactionByHash", h) is None
    chain.mine(2)
    flush_once(f)  # not in the pool any more: the same bytes again
    assert chain.rpc("eth_getTransactionByHash", h) is not None
    chain.mine(1)
    chain.rpc("anvil_setAutomine", True)
    run_all(f, chain)
    assert_exactly_once(kit, chain, 100)


def test_stuck_transaction_is_replaced_with_higher_fees(own_chain: Chain, tmp_path: Path) -> None:
    chain = own_chain
    kit = make_till(tmp_path / "till", chain)
    kit.sell(60)
    chain.rpc("anvil_setAutomine", False)
    f = flusher(kit, chain, max_batch=30, tx_timeout_s=1)
    flush_once(f)
    first = kit.store.query("SELECT id, max_fee, priority_fee, tx_hashes FROM batches ORDER BY id")
    assert len(first) == 2
    # the base fee jumps far above what the transactions offer: they are stuck
    chain.rpc("anvil_setNextBlockBaseFeePerGas", hex(first[0]["max_fee"] * 20))
    chain.mine(1)
    flush_once(f)
    assert kit.states() == {"sending": 60}
    time.sleep(1.2)
    res = flush_once(f)
    assert res.replaced == 2
    chain.mine(1)
    flush_once(f)
    chain.rpc("anvil_setAutomine", True)
    run_all(f, chain)
    assert_exactly_once(kit, chain, 60)
    for old in first:
        row = kit.store.one(
            "SELECT max_fee, priority_fee, tx_hashes, tx_hash FROM batches WHERE id = ?",
            (old["id"],),
        )
        hashes = json.loads(row["tx_hashes"])
        assert len(hashes) >= 2 and row["tx_hash"] == hashes[-1]
        assert row["max_fee"] * 1000 >= old["max_fee"] * 1125
        assert row["priority_fee"] * 1000 >= old["priority_fee"] * 1125


def test_reorg_sends_again(own_chain: Chain, tmp_path: Path) -> None:
    chain = own_chain
    kit = make_till(tmp_path / "till", chain)
    kit.sell(90)
    snap = chain.rpc("evm_snapshot")
    f = flusher(kit, chain, max_batch=30, confirmations=10)
    flush_all(f, timeout=30)
    flush_once(f)
    assert kit.states() == {"committed": 90}
    assert chain.next_seq(kit.till) == 91
    chain.rpc("evm_revert", snap)  # the blocks that held the batches are gone
    chain.mine(5)  # a longer chain without them
    assert chain.next_seq(kit.till) == 1
    run_all(f, chain)
    assert_exactly_once(kit, chain, 90)
    events = [r[0] for r in kit.store.query("SELECT kind FROM events WHERE kind = 'batch_reorged'")]
    assert len(events) == 3


def test_reorg_after_confirmation_is_found_by_reconcile(own_chain: Chain, tmp_path: Path) -> None:
    chain = own_chain
    kit = make_till(tmp_path / "till", chain)
    kit.sell(40)
    snap = chain.rpc("evm_snapshot")
    f = flusher(kit, chain, max_batch=40, confirmations=1)
    run_all(f, chain)
    assert kit.states() == {"confirmed": 40}
    chain.rpc("evm_revert", snap)
    chain.mine(10)
    run_all(flusher(kit, chain, confirmations=1), chain)  # a restart reconciles
    assert_exactly_once(kit, chain, 40)


def test_batch_already_on_chain_is_not_an_error(chain: Chain, tmp_path: Path) -> None:
    """The transaction landed but the outbox never heard (e.g. lost receipt): SeqMismatch = there."""
    from eth_account import Account

    from posd.chain import contracts

    kit = make_till(tmp_path / "till", chain)
    kit.sell(50)
    rows = kit.store.query("SELECT seq, amount, time, claim_address FROM proofs WHERE seq <= 30")
    leaves = [proof.Leaf(kit.till, *r) for r in rows]
    acct = Account.from_key(kit.keys.private_key)
    contracts.send(
        chain.w3, acct, chain.mining.functions.commitBatch(1, proof.encode_records(leaves))
    )
    run_all(flusher(kit, chain), chain)
    assert_exactly_once(kit, chain, 50)
    assert [b[:2] for b in chain.batches(kit.till)] == [(1, 30), (31, 20)]
    assert queue_status(kit.store)["link"].get("alert") is None


def test_foreign_batch_on_chain_raises_an_alert(chain: Chain, tmp_path: Path) -> None:
    from eth_account import Account

    from posd.chain import contracts

    kit = make_till(tmp_path / "till", chain)
    kit.sell(10)
    rows = kit.store.query("SELECT seq, amount, time, claim_address FROM proofs WHERE seq <= 5")
    forged = [proof.Leaf(kit.till, r[0], r[1] + 1, r[2], r[3]) for r in rows]
    acct = Account.from_key(kit.keys.private_key)
    contracts.send(
        chain.w3, acct, chain.mining.functions.commitBatch(1, proof.encode_records(forged))
    )
    f = flusher(kit, chain)
    with pytest.raises(Halted):
        flush_all(f, timeout=20)
    status = queue_status(kit.store)
    assert status["link"]["alert"]["kind"] == "root_mismatch"
    assert status["link"]["state"].startswith("error")
    assert status["counts"]["pending"] == 10  # nothing accepted silently


def test_daily_cap_stops_and_resumes_next_day(own_chain: Chain, tmp_path: Path) -> None:
    from posd.chain import contracts

    chain = own_chain
    contracts.register_store(
        chain.w3, chain.admin, chain.mining, "Corner Shop", chain.admin.address, "EUR", 0
    )  # re-register: tiny cap below
    kit = make_till(tmp_path / "till", chain)
    kit.sell(30)
    total = kit.store.one("SELECT sum(amount) FROM proofs WHERE seq <= 20")[0]
    contracts.register_store(
        chain.w3, chain.admin, chain.mining, "Corner Shop", chain.admin.address, "EUR", total
    )
    f = flusher(kit, chain, max_batch=10, pipeline=4)
    with pytest.raises(Halted):
        flush_all(f, timeout=30)
    assert chain.next_seq(kit.till) == 21
    status = queue_status(kit.store)
    assert status["link"]["state"] == "cap_exceeded"
    with pytest.raises(Halted):
        flush_all(f, timeout=10)  # still the same day: still stopped
    chain.rpc("evm_increaseTime", 86400)
    chain.mine(1)
    run_all(f, chain)
    assert_exactly_once(kit, chain, 30)
    assert link_status(kit.store)["state"] == "online"


def test_low_balance_warns(chain: Chain, tmp_path: Path) -> None:
    kit = make_till(tmp_path / "till", chain)
    kit.sell(5)
    chain.rpc("anvil_setBalance", kit.till, hex(10**16))
    run_all(flusher(kit, chain, low_balance_batches=10**6), chain)
    bal = link_status(kit.store)["balance"]
    assert bal["low"] is True and bal["batches_left"] < 10**6
    assert kit.store.one("SELECT count(*) FROM events WHERE kind = 'low_balance'")[0] == 1


def test_sender_lock_is_exclusive(tmp_path: Path) -> None:
    a, b = SenderLock(tmp_path), SenderLock(tmp_path)
    assert a.acquire(timeout=0)
    assert not b.acquire(timeout=0.2)
    a.release()
    assert b.acquire(timeout=0)
    b.release()


def test_scheduler_flushes_in_the_background(chain: Chain, tmp_path: Path) -> None:
    from posd.chain.scheduler import TillScheduler

    kit = make_till(tmp_path / "till", chain)
    cfg = Config()
    cfg.state_dir_override = str(kit.dir)
    cfg.chain = chain_config(chain, flush_interval_s=1, confirmations=1, backlog_threshold=10)
    sched = TillScheduler(cfg, kit.store, kit.keys.private_key)
    sched.start()
    try:
        for _ in range(30):
            kit.sell(1)
            sched.sale_completed()
        wait_for(
            lambda: kit.states() == {"confirmed": 30},
            timeout=30,
            what="30 confirmed",
            every=0.3,
            tick=lambda: chain.mine(1),
        )
        assert kit.states() == {"confirmed": 30}
        assert link_status(kit.store)["state"] == "online"
        # `posd flush` holding the lock: the daemon's rounds stand aside
        lock = SenderLock(kit.dir)
        assert lock.acquire(timeout=10)
        kit.sell(2)
        sched.run_soon()
        time.sleep(1.5)
        assert kit.states().get("pending") == 2
        lock.release()

        def nudge() -> None:
            sched.run_soon()
            chain.mine(1)

        wait_for(
            lambda: kit.states() == {"confirmed": 32},
            timeout=20,
            what="32 confirmed",
            every=0.3,
            tick=nudge,
        )
        assert_exactly_once(kit, chain, 32)
    finally:
        sched.stop()


def test_refund_only_before_signing(own_chain: Chain, tmp_path: Path) -> None:
    from posd.db.outbox import AlreadyCommitted, Outbox

    chain = own_chain
    kit = make_till(tmp_path / "till", chain)
    kit.sell(10)
    outbox = Outbox(kit.store)
    outbox.refund(3)  # still pending: the leaf goes out with amount 0
    chain.rpc("anvil_setAutomine", False)
    snap = chain.rpc("evm_snapshot")
    f = flusher(kit, chain, confirmations=3)
    flush_once(f)
    with pytest.raises(AlreadyCommitted):
        outbox.refund(4)  # in a signed transaction now
    chain.mine(1)
    flush_once(f)
    assert kit.states() == {"committed": 10}
    chain.rpc("evm_revert", snap)  # reorged out: requeued, yet still refused
    chain.rpc("anvil_setAutomine", True)
    chain.mine(3)
    flush_once(f)
    with pytest.raises(AlreadyCommitted):
        outbox.refund(5)
    run_all(f, chain)
    assert_exactly_once(kit, chain, 10)
    assert kit.store.one("SELECT amount FROM proofs WHERE seq = 3")[0] == 0
    assert kit.store.one("SELECT amount FROM proofs WHERE seq = 4")[0] > 0


class Crash(BaseException):
    """Stands for a power cut at a chosen point (BaseException: nothing catches it)."""


@pytest.mark.parametrize("point", ["before_broadcast", "after_broadcast"])
def test_crash_points_around_broadcast(chain: Chain, tmp_path: Path, point) -> None:
    class CrashingSender(Sender):
        """Signs for real; the power goes just before (or just after) the broadcast."""

        def broadcast_many(self, raws: list[bytes]) -> list[str | None]:
            if point == "after_broadcast":
                super().broadcast_many(raws)
            raise Crash

    kit = make_till(tmp_path / "till", chain)
    kit.sell(120)
    f = flusher(kit, chain, max_batch=40, confirmations=1, sender=CrashingSender)
    with pytest.raises(Crash):
        flush_once(f)
    assert kit.states() == {"sending": 120}  # signed and stored before any broadcast
    assert kit.store.one("SELECT count(*) FROM tx_attempts")[0] == 3
    run_all(flusher(kit, chain, max_batch=40, confirmations=1), chain)  # the restarted process
    assert_exactly_once(kit, chain, 120)
    assert kit.store.one("SELECT count(*) FROM tx_attempts")[0] == 3  # the same three, no more


def test_nonce_spent_by_a_foreign_transaction(own_chain: Chain, tmp_path: Path) -> None:
    """Batch 1 vanishes and its nonce goes to another transaction; batches 2, 3 then revert."""
    from eth_account import Account

    chain = own_chain
    kit = make_till(tmp_path / "till", chain)
    kit.sell(90)
    chain.rpc("anvil_setAutomine", False)
    f = flusher(kit, chain, max_batch=30, confirmations=1, pipeline=3)
    flush_once(f)
    rows = kit.store.query("SELECT nonce, tx_hashes, max_fee FROM batches ORDER BY nonce")
    assert len(rows) == 3
    chain.rpc("anvil_dropTransaction", json.loads(rows[0]["tx_hashes"])[0])
    other = Account.from_key(kit.keys.private_key).sign_transaction(
        {
            "type": 2,
            "chainId": chain.w3.eth.chain_id,
            "nonce": rows[0]["nonce"],
            "to": chain.admin.address,
            "value": 1,
            "gas": 21000,
            "maxFeePerGas": rows[0]["max_fee"],
            "maxPriorityFeePerGas": 10**9,
        }
    )
    chain.rpc("eth_sendRawTransaction", "0x" + bytes(other.raw_transaction).hex())
    chain.mine(1)
    assert chain.next_seq(kit.till) == 1
    chain.rpc("anvil_setAutomine", True)
    run_all(f, chain)
    assert_exactly_once(kit, chain, 90)
    states = dict(kit.store.query("SELECT state, count(*) FROM batches GROUP BY state"))
    # the vanished batch was given up; the later ones were re-formed after the chain refused
    # them (SeqMismatch) or before: either way three batches made it, none twice
    assert states["confirmed"] == 3 and states["superseded"] >= 1
    assert queue_status(kit.store)["link"].get("alert") is None


def test_confirm_finalized_waits_for_the_finalized_tag(chain: Chain, tmp_path: Path) -> None:
    kit = make_till(tmp_path / "till", chain)
    kit.sell(10)
    f = flusher(kit, chain, confirm="finalized", confirmations=1)
    flush_all(f, timeout=20)
    chain.mine(5)
    flush_once(f)
    assert kit.states() == {"committed": 10}  # 5 deep, not yet finalized (anvil: 64 behind)
    chain.mine(70)
    flush_once(f)
    assert_exactly_once(kit, chain, 10)


def test_sales_keep_full_speed_while_flushing(chain: Chain, tmp_path: Path) -> None:
    import threading

    kit = make_till(tmp_path / "till", chain, fast=False)
    kit.sell(3000)
    own = Store(kit.dir / "posd.db")  # the flusher's own connection, as in the daemon
    f = Flusher(own, kit.keys.private_key, chain_config(chain, confirmations=1), pipeline=16)
    worker = threading.Thread(target=flush_all, args=(f,), kwargs={"timeout": 60})
    worker.start()
    times = []
    while worker.is_alive() and len(times) < 300:
        t = time.perf_counter()
        kit.sell(1)
        times.append(time.perf_counter() - t)
    worker.join()
    times.sort()
    assert len(times) >= 20
    assert times[len(times) // 2] < 0.05 and times[-1] < 0.5, times[-5:]
    run_all(f, chain)
    assert_exactly_once(kit, chain, 3000 + len(times))
    own.close()


def test_scheduler_backs_off_offline_and_flushes_when_the_link_returns(tmp_path: Path) -> None:
    from posd.chain.scheduler import TillScheduler

    state = tmp_path / "anvil.json"
    anvil = Anvil(state_file=state).start()
    chain = deploy_chain(anvil)
    kit = make_till(tmp_path / "till", chain)
    anvil.stop()  # the node goes away (state kept)
    cfg = Config()
    cfg.state_dir_override = str(kit.dir)
    cfg.chain = chain_config(chain, flush_interval_s=60, confirmations=1, backlog_threshold=5)
    sched = TillScheduler(cfg, kit.store, kit.keys.private_key)
    sched.start()
    try:
        kit.sell(12)
        for _ in range(12):
            sched.sale_completed()
        wait_for(
            lambda: link_status(kit.store)["state"] == "offline",
            timeout=10,
            what="the link offline",
            every=0.1,
        )
        assert link_status(kit.store)["state"] == "offline"
        assert kit.states() == {"pending": 12}  # nothing lost, selling went on
        anvil = Anvil(state_file=state, port=anvil.port).start()
        chain.anvil = anvil

        def mine_if_committed() -> None:
            if kit.states().get("committed"):
                chain.mine(1)

        wait_for(
            lambda: kit.states() == {"confirmed": 12},
            timeout=40,  # backoff: well under the 60 s interval
            what="12 confirmed",
            every=0.3,
            tick=mine_if_committed,
        )
        assert_exactly_once(kit, chain, 12)
        assert link_status(kit.store)["state"] == "online"
    finally:
        sched.stop()
        anvil.stop()


def test_batch_on_chain_without_a_known_block_is_relocated_and_confirmed(
    chain: Chain, tmp_path: Path
) -> None:
    """A committed batch whose block the outbox does not know (no receipt, no log: a node that
    restarted from a state dump keeps no history) must not stop reconcile; it still confirms."""
    kit = make_till(tmp_path / "till", chain)
    kit.sell(5)
    f = flusher(kit, chain)
    flush_once(f)
    chain.mine(1)
    flush_once(f)
    assert kit.states() == {"committed": 5} or kit.states() == {"confirmed": 5}
    kit.store.execute(
        "UPDATE batches SET block_number = NULL, block_hash = NULL, state = 'committed'"
    )
    kit.store.execute("UPDATE proofs SET state = 'committed'")
    f = flusher(kit, chain)  # a restart: reconciles first
    run_all(f, chain)
    assert_exactly_once(kit, chain, 5)
    assert kit.store.one("SELECT count(*) FROM batches WHERE block_number IS NULL")[0] == 0
