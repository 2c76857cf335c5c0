"""DSG payments (DESIGN §10) beyond the happy path, on a real anvil: the price feed (fresh, stale,
decimals), the store's tools (`posd payments`, `GET /api/payments`, `posd diag`), and the seams
with the cash drawer (§12) and membership passes (§11).

One till (``world``) is driven once through every state a store acts on — paid, paid with more,
cancelled then paid late, a stray transfer, underpaid and left open — and the
tools are read against it; the tests that share it only read it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from eth_account import Account
from helpers.chainfixtures import deploy_source
from helpers.daemon_util import Client, pair_cookie, posd_cli
from helpers.dsg_kit import PAYOUT, RATE, client, make_dsg_daemon, pay, start, wait_state
from helpers.escpos_parse import FakePrinter, kicks
from helpers.wait import wait_for

from posd.app.diag_dsg import dsg_checks
from posd.chain import contracts
from posd.chain.rpc import Rpc
from posd.config import settings as configmod
from posd.proof.memberpass import MemberPass
from posd.till.dsg.amount import UNIT, wei_for
from posd.till.dsg.price import DsgUnavailable, PriceSource

pytestmark = pytest.mark.anvil
ROOT = Path(__file__).resolve().parents[2]
FEED_SRC = ROOT / "tests" / "contracts_src" / "PriceFeed.vy"
PEN = "4006381333931"  # demo catalog: 129 minor units
COLA = "5000112637922"  # 189


# -- the price feed -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def feeds(chain):
    """Two AggregatorV3-style feeds compiled from tests/contracts_src/PriceFeed.vy: 8 and 18
    decimals (Chainlink's fiat feeds use 8)."""
    source = FEED_SRC.read_text()
    return {digits: deploy_source(chain.w3, chain.admin, source, digits) for digits in (8, 18)}


def set_price(chain, feed, answer: int, age_s: int = 0) -> None:
    contracts.send(chain.w3, chain.admin, feed.functions.set(answer, int(time.time()) - age_s))


def test_price_feed_decimals_fresh_and_stale(chain, feeds) -> None:
    rpc = Rpc(chain.anvil.url)
    eight, eighteen = feeds[8], feeds[18]

    def rate(feed, minor_digits: int = 2):
        return PriceSource(0, feed.address, 3600, minor_digits, rpc).current()

    set_price(chain, eight, 50_000_000)  # 1 DSG = 0.50 EUR: 2 DSG per euro, 0.02 DSG per cent
    r = rate(eight)
    assert r.source == "feed" and wei_for(129, r.num, r.den) == 129 * 2 * 10**16
    set_price(chain, eighteen, 3 * 10**18)  # 1 DSG = 3 EUR: a cent buys 1/300 DSG
    r = rate(eighteen)
    assert wei_for(300, r.num, r.den) == 10**18
    assert wei_for(1, r.num, r.den) == 10**18 // 300 // UNIT * UNIT  # rounded down to 10^9
    r = rate(eighteen, minor_digits=0)  # a currency without minor units (JPY)
    assert wei_for(3, r.num, r.den) == 10**18

    set_price(chain, eight, 50_000_000, age_s=3601)  # older than price_max_age_s
    with pytest.raises(DsgUnavailable, match="3601 s old"):
        rate(eight)
    set_price(chain, eight, 0)
    with pytest.raises(DsgUnavailable, match="price of 0"):
        rate(eight)
    token = chain.mining.functions.token().call()  # an ERC-20, not a feed
    with pytest.raises(DsgUnavailable, match=token[:10]):
        PriceSource(0, token, 3600, 2, rpc).current()


def test_the_till_prices_at_the_feed_and_refuses_a_stale_one(chain, feeds, tmp_path) -> None:
    feed = feeds[8]
    set_price(chain, feed, 25_000_000)  # 1 DSG = 0.25 EUR: 0.04 DSG per cent
    daemon = make_dsg_daemon(tmp_path / "t", chain, rate=0, price_feed=feed.address)
    c = client(daemon, daemon.start())
    try:
        p = start(c, PEN)
        assert int(p["amount_wei"]) // UNIT * UNIT == 129 * 4 * 10**16
        assert c.post(f"/api/payments/{p['id']}/cancel", {})[0] == 200
        set_price(chain, feed, 25_000_000, age_s=7200)
        status, body = c.post("/api/sale/pay", {"tender": "dsg"})
        assert (status, body["error"]["code"]) == (409, "dsg_unavailable")
        assert "old" in body["error"]["message"] and "price_max_age_s" in body["error"]["message"]
        assert c.get("/api/sale")[1]["payment"] is None  # nothing was opened, nothing locked
        assert c.post("/api/scan", {"code": PEN})[0] == 200
        set_price(chain, feed, 25_000_000)  # fresh again: the tender is back
        assert int(start(c)["amount_wei"]) // UNIT * UNIT == 2 * 129 * 4 * 10**16
    finally:
        daemon.stop()


# -- one till through every state the store acts on -----------------------------------------------


@pytest.fixture(scope="module")
def world(chain, shopper, tmp_path_factory):
    state = tmp_path_factory.mktemp("world") / "till"
    daemon = make_dsg_daemon(state, chain, slot=7)
    c = client(daemon, daemon.start())
    txs: dict[str, str] = {}
    ids: dict[str, str] = {}
    try:
        p = start(c, PEN)  # paid exactly
        started = {"payment": p}  # a 202 answer, as the cashier page gets it
        ids["paid"], txs["paid"] = p["id"], pay(chain, shopper, p["amount_wei"])
        chain.mine(2)
        wait_state(c, p["id"], "paid")

        p = start(c, COLA)  # paid with more than asked
        ids["overpaid"] = p["id"]
        txs["overpaid"] = pay(chain, shopper, int(p["amount_wei"]) + 3 * 10**15)
        chain.mine(2)
        wait_state(c, p["id"], "paid")

        p = start(c, PEN)  # cancelled, then paid anyway: late
        ids["cancelled"] = p["id"]
        assert c.post(f"/api/payments/{p['id']}/cancel", {})[0] == 200
        txs["late"] = pay(chain, shopper, p["amount_wei"])
        txs["unmatched"] = pay(chain, shopper, 3 * UNIT + 7_000_000 + 424_242)  # slot 7, nobody's
        chain.mine(2)
        c.post("/api/sale/cancel", {})

        p = start(c, COLA)  # half paid: underpaid, left open under a new reference
        ids["underpaid"] = p["id"]
        first = int(p["amount_wei"])
        txs["underpaid"] = pay(chain, shopper, first // UNIT // 2 * UNIT + first % UNIT)
        chain.mine(2)
        wait_state(c, p["id"], "underpaid")
        assert wait_for(
            lambda: (
                {"late", "unmatched"}
                <= {t["kind"] for t in c.get("/api/payments?state=late,unmatched")[1]["transfers"]}
            ),
            timeout=15,
        )
        yield SimpleNamespace(
            daemon=daemon, client=c, state=state, ids=ids, txs=txs, started=started
        )
    finally:
        daemon.stop()


def test_posd_payments_json_lists_what_the_store_acts_on(world) -> None:
    r = posd_cli("payments", "--json", "--state-dir", str(world.state))
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    by_id = {p["id"]: p for p in found["payments"]}
    ids, txs = world.ids, world.txs
    assert by_id[ids["paid"]]["state"] == "paid" and "overpaid_wei" not in by_id[ids["paid"]]
    assert by_id[ids["paid"]]["tx_hashes"] == [txs["paid"]]
    over = by_id[ids["overpaid"]]
    assert over["overpaid_wei"] == str(3 * 10**15) and over["tx_hashes"] == [txs["overpaid"]]
    assert int(over["received_wei"]) == int(over["request_wei"]) + 3 * 10**15
    under = by_id[ids["underpaid"]]  # open: the rest is asked under a new reference
    assert under["state"] == "underpaid" and under["tx_hashes"] == [txs["underpaid"]]
    assert 0 < int(under["received_wei"]) < int(under["request_wei"])
    assert under["uri"].endswith("uint256=" + under["amount_wei"])
    assert ids["cancelled"] not in by_id  # cancelled is not in the default listing
    for p in found["payments"]:  # wei as decimal strings: they pass 2^53 and 2^64
        for key in ("amount_wei", "received_wei", "request_wei"):
            assert isinstance(p[key], str) and p[key].isdigit()
    kinds = {t["tx_hash"]: t for t in found["transfers"]}
    assert kinds[txs["late"]]["kind"] == "late"
    assert kinds[txs["late"]]["payment_id"] == ids["cancelled"]
    stray = kinds[txs["unmatched"]]
    assert stray["kind"] == "unmatched" and stray["payment_id"] is None
    assert stray["value_wei"] == str(3 * UNIT + 7_424_242)

    r = posd_cli("payments", "--json", "--state", "cancelled,paid", "--state-dir",
                 str(world.state))  # fmt: skip
    listed = {p["id"] for p in json.loads(r.stdout)["payments"]}
    assert listed == {ids["cancelled"], ids["paid"], ids["overpaid"]}
    r = posd_cli("payments", "--state-dir", str(world.state))
    assert r.returncode == 0, r.stderr
    assert ids["overpaid"] in r.stdout and "overpaid 0.003 DSG" in r.stdout
    assert txs["late"] in r.stdout and txs["unmatched"] in r.stdout and "unmatched" in r.stdout
    r = posd_cli("payments", "--state", "late,bogus", "--state-dir", str(world.state))
    assert r.returncode == 2 and "'bogus'" in r.stderr


def test_api_payments_listing_is_for_the_technician(world) -> None:
    c, txs, ids = world.client, world.txs, world.ids
    status, body = c.get("/api/payments?state=late,overpaid,unmatched")
    assert status == 200, body
    assert [p["id"] for p in body["payments"]] == [ids["overpaid"]]  # paid exactly: not listed
    assert body["payments"][0]["overpaid_wei"] == str(3 * 10**15)
    assert {t["tx_hash"]: t["kind"] for t in body["transfers"]} == {
        txs["late"]: "late",
        txs["unmatched"]: "unmatched",
    }
    tech = Client(c.base, None, pair_cookie(world.daemon.store.path, c.base, "tech"))
    assert tech.get("/api/payments?state=late,overpaid,unmatched")[1] == body
    cashier = Client(c.base, None, pair_cookie(world.daemon.store.path, c.base, "cashier"))
    status, refused = cashier.get("/api/payments?state=late")
    assert status == 403, refused
    assert Client(c.base, None).get("/api/payments")[0] == 401
    status, bad = c.get("/api/payments?state=late,nonsense")
    assert status == 400 and bad["error"]["code"] == "bad_state"
    assert "'nonsense'" in bad["error"]["message"]


def test_payment_answers_match_the_openapi_description(world) -> None:
    """What schemathesis checks on a simulated till, for answers its fuzzing rarely reaches:
    the 202 of a DSG start, a paid request with overpaid_wei and claim_url, the listing."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    c = world.client
    spec = c.get("/api/openapi.json")[1]

    def check(path: str, method: str, status: str, body: dict) -> None:
        schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
        validator = jsonschema_rs.Draft202012Validator(
            {**schema["schema"], "components": spec["components"]}
        )
        validator.validate(body)
        assert not validator.is_valid({"payment": {"id": "x"}} if status == "202" else [])

    check("/api/sale/pay", "post", "202", world.started)
    paid = c.get(f"/api/payments/{world.ids['overpaid']}")[1]
    assert "overpaid_wei" in paid and "claim_url" in paid
    check("/api/payments/{id}", "get", "200", paid)
    check("/api/payments/{id}", "get", "200", c.get(f"/api/payments/{world.ids['underpaid']}")[1])
    check("/api/payments", "get", "200", c.get("/api/payments?state=open,paid,late,unmatched")[1])


def test_a_member_pass_while_a_dsg_payment_is_open_is_refused(world) -> None:
    c = world.client
    assert c.get("/api/sale")[1]["payment"]["id"] == world.ids["underpaid"]
    member = Account.create()
    text = MemberPass.sign(member.key, 31337, PAYOUT, int(time.time()) + 600).text()
    status, body = c.post("/api/sale/member", {"pass": text})
    assert (status, body["error"]["code"]) == (409, "payment_pending"), body
    status, body = c.post("/api/scan", {"code": text})  # scanned at the till: the same answer
    assert (status, body["error"]["code"]) == (409, "payment_pending"), body
    sale = c.get("/api/sale")[1]
    assert sale["member"] is None and sale["payment"]["state"] == "underpaid"


# -- posd diag ------------------------------------------------------------------------------------


def _diag(world, tmp_path: Path, **dsg) -> tuple[int, dict, str]:
    cfg = world.daemon.config
    data = {
        "till": {"state_dir": str(world.state), "key_file": str(cfg.key_file)},
        "chain": {
            "rpc_url": cfg.chain.rpc_url,
            "mining_address": cfg.chain.mining_address,
            "token_address": cfg.chain.token_address,
        },
        "dsg": {"payout_address": PAYOUT, "till_slot": 7, "rate": RATE, **dsg},
    }
    path = tmp_path / f"posd-{len(list(tmp_path.iterdir()))}.toml"
    configmod.write_toml(path, data)
    r = posd_cli("diag", "--json", "--config", str(path))
    try:
        checks = {c["check"]: c for c in json.loads(r.stdout)["checks"]}
    except ValueError:
        checks = {}
    return r.returncode, checks, r.stderr


def test_posd_diag_checks_payout_price_and_slot(world, tmp_path) -> None:
    _, checks, err = _diag(world, tmp_path)
    assert checks["dsg_payout"]["status"] == "ok", err
    assert checks["dsg_price"]["status"] == "ok"
    slot = checks["dsg_slot"]  # the stray in slot 7: maybe another till on the same slot
    assert slot["status"] == "warn" and "1 transfer(s) in slot 7" in slot["detail"]

    till = world.daemon.register.till
    code, checks, _ = _diag(world, tmp_path, payout_address=till)
    assert code == 1 and checks["dsg_payout"]["status"] == "fail"
    assert "till's own" in checks["dsg_payout"]["detail"] and till in checks["dsg_payout"]["detail"]

    code, checks, _ = _diag(world, tmp_path, payout_address="")
    assert code == 1 and checks["dsg_payout"]["status"] == "fail"
    assert "[dsg] payout_address is missing" in checks["dsg_payout"]["detail"]

    code, _, err = _diag(world, tmp_path, payout_address="0x1234")
    assert code != 0 and "payout_address" in err and "0x1234" in err


def test_diag_price_check_reads_the_feed(chain, feeds, world) -> None:
    cfg = configmod.load(None, state_dir=str(world.state))
    cfg.chain.rpc_url = chain.anvil.url
    cfg.dsg.payout_address, cfg.dsg.till_slot, cfg.dsg.price_feed = PAYOUT, 7, feeds[18].address
    set_price(chain, feeds[18], 2 * 10**18)
    price = {c["check"]: c for c in dsg_checks(cfg, None)}["dsg_price"]
    assert price["status"] == "ok" and feeds[18].address in price["detail"]
    set_price(chain, feeds[18], 2 * 10**18, age_s=4000)
    price = {c["check"]: c for c in dsg_checks(cfg, None)}["dsg_price"]
    assert price["status"] == "fail" and "4000 s old" in price["detail"]
    cfg.dsg.price_feed, cfg.dsg.payout_address = "", "not an address"
    checks = {c["check"]: c for c in dsg_checks(cfg, None)}
    assert checks["dsg_payout"]["status"] == "fail" and "'not an address'" in checks[
        "dsg_payout"]["detail"]  # fmt: skip
    assert checks["dsg_price"]["status"] == "fail"  # neither rate nor feed
    cfg.dsg.payout_address = ""
    assert [c["status"] for c in dsg_checks(cfg, None)] == ["warn"]  # DSG is simply off


# -- the cash drawer ------------------------------------------------------------------------------


def kicked(fake: FakePrinter) -> list[bytes]:
    return [k for j in fake.jobs for k in kicks(j)]


def test_part_cash_rest_dsg_opens_the_drawer_dsg_only_never(chain, shopper, tmp_path) -> None:
    with FakePrinter() as fake:
        entry = {**fake.entry, "kind": "printer", "drawer": "pin2", "drawer_pulse_ms": 120}
        daemon = make_dsg_daemon(tmp_path / "t", chain, slot=8, devices=[entry])
        c = client(daemon, daemon.start())
        try:
            p = start(c, PEN)  # DSG only
            pay(chain, shopper, p["amount_wei"])
            chain.mine(2)
            only = wait_state(c, p["id"], "paid")
            assert wait_for(lambda: daemon.spooler.queued() == 0 and fake.jobs, timeout=15)
            time.sleep(0.5)  # a kick would be on its way by now
            assert kicked(fake) == []

            assert c.post("/api/scan", {"code": PEN})[0] == 200
            status, body = c.post("/api/sale/pay", {"tender": "cash", "amount": 29})
            assert status == 200 and not body["complete"], body
            status, body = c.post("/api/sale/pay", {"tender": "dsg"})
            assert status == 202, body
            p = body["payment"]
            assert int(p["amount_wei"]) // UNIT * UNIT == 100 * RATE  # the rest: 129 - 29
            pay(chain, shopper, p["amount_wei"])
            chain.mine(2)
            split = wait_state(c, p["id"], "paid")
            kicks_seen = wait_for(lambda: kicked(fake), timeout=15)
            assert kicks_seen == [bytes([0, 60, 60])]  # pin 2, 120 ms
            opened = [
                json.loads(r[0])
                for r in daemon.store.query("SELECT data FROM events WHERE kind = 'drawer_opened'")
            ]
            assert [(e["reason"], e["seq"]) for e in opened] == [("sale", split["seq"])]
            rows = daemon.store.query(
                "SELECT tender, amount FROM payments WHERE seq = ? ORDER BY rowid", (split["seq"],)
            )
            assert [tuple(r) for r in rows] == [("cash", 29), ("dsg", 100)]
            assert daemon.outbox.get(only["seq"]) is not None
        finally:
            daemon.stop()
