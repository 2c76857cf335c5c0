"""A restored database whose pending proofs were committed in one batch with seqs it lost
(DESIGN §2-§3): the flusher rebuilds the lost records from the committing transaction's calldata
instead of halting, but only when the records it still holds are the chain's."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from helpers import dbfile
from helpers.flush_kit import (
    Chain,
    TillKit,
    assert_exactly_once,
    flusher,
    make_till,
    queue_status,
    run_all,
)
from helpers.http_stub import serve_post

from posd.chain.flush import Halted, flush_all
from posd.config import keyfile
from posd.config.settings import Config
from posd.db import meta
from posd.db.outbox import UnknownSale
from posd.db.sales import Sales
from posd.db.store import Store
from posd.receipt.builder import ReceiptBuilder
from posd.till import identity
from posd.till.catalog import Catalog
from posd.till.sale import Register
from posd.till.seqmark import SeqMark

pytestmark = pytest.mark.anvil


def _claims(kit: TillKit) -> dict[int, str]:
    return dict(kit.store.query("SELECT seq, claim_address FROM proofs"))


def _restore_after_spanning_batch(chain: Chain, path: Path) -> tuple[TillKit, dict[int, str]]:
    """Seqs 1..3 on chain; back up with 4..5 pending; sell 6..7 and commit [4..7] in one batch;
    restore the backup and start the till again (C = 8 > L = 6: new seed, next seq 8)."""
    kit = make_till(path, chain)
    kit.sell(3)
    run_all(flusher(kit, chain), chain)
    kit.sell(2)  # 4..5 pending in the backup
    dbfile.backup(path / "posd.db", path / "backup.db")
    kit.sell(2)
    issued = _claims(kit)
    run_all(flusher(kit, chain), chain)
    assert [b[:2] for b in chain.batches(kit.till)] == [(1, 3), (4, 4)]
    kit.register.close()
    kit.store.close()
    dbfile.restore(path / "posd.db", path / "backup.db")

    store = Store(path / "posd.db")
    key_path = path / "till.key"
    keys, found = identity.reconcile(
        store,
        kit.keys,
        key_path,
        None,
        SeqMark.beside(key_path, kit.till),
        chain.next_seq(kit.till),
    )
    assert (found.local, found.chain, found.case) == (6, 8, "database_behind_chain")
    assert keys.seed_id == 2 and keyfile.load(key_path).seed_id == 2
    catalog = Catalog(store)
    return TillKit(path, store, keys, Register(store, catalog, keys)), issued


def test_lost_seqs_of_a_spanning_batch_are_adopted_from_its_calldata(
    chain: Chain, tmp_path: Path
) -> None:
    kit, issued = _restore_after_spanning_batch(chain, tmp_path / "till")
    assert sorted(_claims(kit)) == [1, 2, 3, 4, 5]  # 6..7 lost with the restore
    kit.sell(2)
    assert sorted(_claims(kit))[-2:] == [8, 9], "the till continues past every issued seq"
    run_all(flusher(kit, chain), chain)  # halted with unknown_batch before the fix

    assert queue_status(kit.store)["link"].get("alert") is None
    assert_exactly_once(kit, chain, 9)  # 6..7 rebuilt, their root the chain's; 8..9 committed
    claims = _claims(kit)
    assert {s: claims[s] for s in range(1, 8)} == issued, "adopted records are the chain's"
    assert not {claims[8], claims[9]} & set(issued.values()), "a claim key was issued twice"
    sales = Sales(kit.store)
    assert [sales.get(s).kind for s in (5, 6, 7, 8)] == ["sale", "adopted", "adopted", "sale"]
    assert sales.get(6).seed_id == 0 and sales.lines(6) == []  # no claim key, no goods kept
    builder = ReceiptBuilder(Config(), kit.store, kit.keys)
    with pytest.raises(UnknownSale, match="rebuilt from the chain"):
        builder.build(6, copy=True)
    assert builder.sale_claim_url(6) == "" and builder.build(5, copy=True).claim_url
    events = kit.store.query("SELECT data FROM events WHERE kind = 'records_adopted'")
    assert [json.loads(r[0])["seqs"] for r in events] == [[6, 7]]
    kit.sell(1)
    run_all(flusher(kit, chain), chain)
    assert_exactly_once(kit, chain, 10)
    kit.register.close()
    kit.store.close()


def test_tampered_local_proofs_still_halt_with_root_mismatch(chain: Chain, tmp_path: Path) -> None:
    kit, _ = _restore_after_spanning_batch(chain, tmp_path / "till")
    kit.store.execute("UPDATE proofs SET amount = amount + 1 WHERE seq = 5")
    with pytest.raises(Halted):
        flush_all(flusher(kit, chain), timeout=20)
    status = queue_status(kit.store)
    assert status["link"]["alert"]["kind"] == "root_mismatch"
    assert "seq 5" in status["link"]["alert"]["detail"]
    assert sorted(_claims(kit)) == [1, 2, 3, 4, 5]  # nothing adopted
    assert status["counts"]["pending"] == 2
    kit.register.close()
    kit.store.close()


@pytest.fixture
def pruned(chain: Chain):
    """A JSON-RPC node that keeps state but no history: every call goes to anvil, except that
    transactions, receipts and logs are unknown (a node that prunes them, or a dev chain
    restarted from a dump that does not keep them)."""
    forget = {
        "eth_getLogs": [],
        "eth_getTransactionByHash": None,
        "eth_getTransactionReceipt": None,
    }

    def answer(req: dict) -> dict:
        if req["method"] in forget:
            return {"jsonrpc": "2.0", "id": req["id"], "result": forget[req["method"]]}
        body = json.dumps(req).encode()
        with urllib.request.urlopen(
            urllib.request.Request(chain.anvil.url, body, {"Content-Type": "application/json"}),
            timeout=30,
        ) as resp:
            return json.loads(resp.read())

    def handle(raw: bytes) -> tuple[int, bytes]:
        req = json.loads(raw)
        out = [answer(r) for r in req] if isinstance(req, list) else answer(req)
        return 200, json.dumps(out).encode()

    with serve_post(handle) as url:
        yield url


def test_a_node_without_history_keeps_the_alert_and_says_what_to_do(
    chain: Chain, pruned: str, tmp_path: Path
) -> None:
    """The lost records cannot be rebuilt without the committing transaction: the halt stays,
    and the alert says the way out."""
    kit, _ = _restore_after_spanning_batch(chain, tmp_path / "till")
    with pytest.raises(Halted):
        flush_all(flusher(kit, chain, rpc_url=pruned), timeout=20)
    alert = queue_status(kit.store)["link"]["alert"]
    assert alert["kind"] == "unknown_batch"
    assert "cannot be rebuilt" in alert["detail"]
    assert "rpc_url" in alert["detail"] and "full history" in alert["detail"]
    assert sorted(_claims(kit)) == [1, 2, 3, 4, 5]  # nothing adopted
    marks = meta.Meta(kit.store)  # five minutes later, on a node that keeps history
    marks.set(meta.FLUSH_HALT, {**marks.get(meta.FLUSH_HALT), "retry_at": 0})
    run_all(flusher(kit, chain), chain)
    assert queue_status(kit.store)["link"].get("alert") is None
    assert sorted(_claims(kit)) == [1, 2, 3, 4, 5, 6, 7]
    kit.register.close()
    kit.store.close()
