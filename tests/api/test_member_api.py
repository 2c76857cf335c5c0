"""``POST /api/sale/member`` and a pass through the scan paths (DESIGN §7, §11) on a running
in-process daemon: 200 with the member on the sale, 400 bad_pass / pass_expired / wrong_chain,
409 pass_used / payment_started; the discount reaches the proof and the printed receipt, and the
pass's signature reaches no log, event or database row.

The staking contract is a loopback JSON-RPC node answering ``tierOf`` (real HTTP); the contract
itself, against anvil: tests/till/test_membership_anvil.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.daemon_util import Client, make_daemon
from helpers.escpos_parse import extract_text
from helpers.http_stub import TierNode, serve_post
from helpers.wait import wait_for

from posd.app.daemon import Daemon
from posd.db.outbox import Outbox
from posd.proof.memberpass import MemberPass
from posd.till.catalog import DEMO_PRODUCTS

STAKING = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"
CHAIN_ID = 31337
KEY = b"\x22" * 32


@dataclass
class Till:
    daemon: Daemon
    client: Client
    printer: Path


@contextmanager
def _running(tmp_path: Path, node: TierNode, scanner: bool) -> Iterator[Till]:
    """A daemon whose [chain] node is ``node`` on a loopback port (and a simulated scanner)."""
    with serve_post(node.answer) as url:
        printer = tmp_path / "printer"
        devices = [{"kind": "printer", "driver": "simulated", "dir": str(printer)}]
        if scanner:
            devices.append({"kind": "scanner", "driver": "simulated"})
        daemon = make_daemon(
            tmp_path, devices, rpc_url=url, staking_address=STAKING, chain_id=CHAIN_ID
        )
        port = daemon.start()
        try:
            yield Till(daemon, Client(f"http://127.0.0.1:{port}", daemon.api_token), printer)
        finally:
            daemon.stop()


@pytest.fixture
def till(tmp_path: Path) -> Iterator[Till]:
    with _running(tmp_path, TierNode(CHAIN_ID, tier=2, staking=STAKING), scanner=True) as t:
        yield t


def _pass(ahead: int = 300, chain_id: int = CHAIN_ID, key: bytes = KEY) -> str:
    return MemberPass.sign(key, chain_id, STAKING, int(time.time()) + ahead).text()


def _prices() -> list[tuple[str, int]]:
    return [(p.barcode, p.price_minor) for p in DEMO_PRODUCTS]


def test_member_pass_gives_the_tier_discount_and_reaches_proof_and_receipt(
    till: Till, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    c = till.client
    (code_a, price_a), (code_b, price_b) = _prices()[:2]
    assert c.post("/api/scan", {"code": code_a})[0] == 200
    text = _pass()
    status, sale = c.post("/api/sale/member", {"pass": text})
    assert status == 200, sale
    member = sale["member"]
    assert member["address"] == MemberPass.decode(text).member
    assert (member["tier"], member["discount_percent"], member["source"]) == (2, 5, "chain")
    assert c.post("/api/scan", {"code": code_b})[0] == 200  # a line after the pass: discounted too
    status, sale = c.get("/api/sale")
    expected = [round(price_a * 0.05 + 1e-9), round(price_b * 0.05 + 1e-9)]
    assert [ln["member_discount"] for ln in sale["lines"]] == expected
    assert sale["member"]["discount"] == sum(expected)
    assert sale["total"] == price_a + price_b - sum(expected)
    # the same pass shown again to the same sale is no reuse
    assert c.post("/api/sale/member", {"pass": text})[0] == 200
    status, paid = c.post("/api/sale/pay", {"tender": "cash", "amount": sale["total"]})
    assert status == 200 and paid["complete"] and paid["total"] == sale["total"]
    proof = Outbox(till.daemon.store).get(paid["seq"])
    assert proof.amount == price_a + price_b - sum(expected)  # the proof: after the discount
    receipt = till.printer / "receipts" / f"{paid['seq']}.bin"
    wait_for(receipt.exists, 20, "the printed receipt")
    printed = extract_text(receipt.read_bytes(), "TM-T88III")
    assert "Member tier 2 (5% off)" in printed
    assert f"-€{sum(expected) // 100}.{sum(expected) % 100:02d}" in printed
    # the pass is used now: a new sale cannot take it again
    assert c.post("/api/scan", {"code": code_a})[0] == 200
    status, err = c.post("/api/sale/member", {"pass": text})
    assert (status, err["error"]["code"]) == (409, "pass_used")
    # the signature is nowhere: logs, the database file, the WAL
    signature_b64 = text[-87:]
    sig_hex = MemberPass.decode(text).signature.hex()
    assert signature_b64 not in caplog.text and sig_hex not in caplog.text
    db = till.daemon.config.db_path
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            raw = path.read_bytes()
            assert signature_b64.encode() not in raw and bytes.fromhex(sig_hex) not in raw
            assert sig_hex.encode() not in raw


@pytest.mark.parametrize(
    ("make", "status", "code"),
    [
        (lambda: _pass()[:-1], 400, "bad_pass"),
        (lambda: _pass()[:-2] + "+/", 400, "bad_pass"),
        (lambda: _pass(ahead=-5), 400, "pass_expired"),
        (lambda: _pass(ahead=3600), 400, "pass_expired"),
        (lambda: _pass(chain_id=1), 400, "wrong_chain"),
    ],
)
def test_refusals(till: Till, make, status: int, code: str) -> None:
    got, body = till.client.post("/api/sale/member", {"pass": make()})
    assert (got, body["error"]["code"]) == (status, code), body
    assert body["error"]["message"]
    assert till.client.get("/api/sale")[1]["member"] is None


def test_bad_bodies(till: Till) -> None:
    c = till.client
    assert c.post("/api/sale/member", {})[1]["error"]["code"] == "missing_field"
    assert c.post("/api/sale/member", {"pass": 5})[0] == 400
    assert c.post("/api/sale/member", {"pass": "x" * 300})[0] == 400
    assert Client(c.base, None).post("/api/sale/member", {"pass": _pass()})[0] == 401


def test_a_pass_after_payment_started_is_409(till: Till) -> None:
    c = till.client
    code, price = _prices()[0]
    c.post("/api/scan", {"code": code})
    assert c.post("/api/sale/pay", {"tender": "card", "amount": 1})[0] == 200
    status, body = c.post("/api/sale/member", {"pass": _pass()})
    assert (status, body["error"]["code"]) == (409, "payment_started")


def test_pass_through_the_scan_route_and_the_scanner(till: Till) -> None:
    c = till.client
    code, _price = _prices()[0]
    c.post("/api/scan", {"code": code})
    status, sale = c.post("/api/scan", {"code": _pass()})  # not a catalog lookup
    assert status == 200 and sale["member"]["tier"] == 2 and len(sale["lines"]) == 1
    c.post("/api/sale/cancel", {})
    scanner = till.daemon.devices.simulated("scanner")
    c.post("/api/scan", {"code": code})
    scanner.inject(_pass(key=b"\x33" * 32))
    sale = c.get("/api/sale")[1]
    assert sale["member"] is not None and sale["member"]["discount"] > 0
    # a bad pass from the scanner is refused without a crash; the sale keeps its member
    scanner.inject(_pass(ahead=-60, key=b"\x44" * 32))
    assert c.get("/api/sale")[1]["member"]["address"] == sale["member"]["address"]


# -- a pass is burnt only by the sale that takes it -------------------------------------------------
@pytest.fixture
def slow_till(tmp_path: Path) -> Iterator[tuple[Till, TierNode]]:
    """The node answers any eth_call; a test sets its ``delay`` (the till reads the tier outside
    its lock) or ``empty`` (no contract at the staking address)."""
    node = TierNode(CHAIN_ID)
    with _running(tmp_path, node, scanner=False) as t:
        yield t, node


def test_a_pass_refused_after_the_tier_read_is_not_burnt(slow_till) -> None:
    """Payment starts while the till reads the tier: the pass is refused (409 payment_started)
    and stays usable; the shopper's retry on the next sale is accepted, not 409 pass_used."""
    import threading

    till, node = slow_till
    c = till.client
    code, _price = _prices()[0]
    assert c.post("/api/scan", {"code": code})[0] == 200
    text, answer = _pass(), {}
    node.delay = 1.5
    poster = threading.Thread(
        target=lambda: answer.update(r=c.post("/api/sale/member", {"pass": text}))
    )
    poster.start()
    time.sleep(0.4)  # the tier read is under way
    assert c.post("/api/sale/pay", {"tender": "card", "amount": 1})[0] == 200
    poster.join(10)
    status, body = answer["r"]
    assert (status, body["error"]["code"]) == (409, "payment_started"), body
    assert not till.daemon.register.members.members.pass_used(MemberPass.decode(text).pass_id)
    node.delay = 0.0
    assert c.post("/api/sale/cancel", {})[0] == 200
    assert c.post("/api/scan", {"code": code})[0] == 200
    status, sale = c.post("/api/sale/member", {"pass": text})
    assert status == 200 and sale["member"]["tier"] == 2, sale


def test_a_staking_address_with_no_contract_is_a_configuration_problem(slow_till) -> None:
    """Not "offline, tier 0": 503 membership_unavailable naming [chain] staking_address, and
    the pass is not burnt (once the address is right the same pass works)."""
    till, node = slow_till
    c = till.client
    code, _price = _prices()[0]
    assert c.post("/api/scan", {"code": code})[0] == 200
    text = _pass()
    node.empty = True
    status, body = c.post("/api/sale/member", {"pass": text})
    assert (status, body["error"]["code"]) == (503, "membership_unavailable"), body
    assert "[chain] staking_address" in body["error"]["message"]
    assert c.get("/api/sale")[1]["member"] is None
    node.empty = False
    status, sale = c.post("/api/sale/member", {"pass": text})
    assert status == 200 and sale["member"]["tier"] == 2 and sale["member"]["source"] == "chain"
