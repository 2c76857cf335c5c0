"""The local API's contract (DESIGN §7): auth, JSON errors with stable codes, never a 500 for bad input."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from helpers.daemon_util import Client, posd_cli
from helpers.wait import wait_for


def test_mutating_routes_need_the_token(running) -> None:
    anon = running.anon
    for path in (
        "/api/scan",
        "/api/sale/pay",
        "/api/sale/cancel",
        "/api/sale/void-line",
        "/api/sales/1/refund",
        "/api/receipts/1/reprint",
    ):
        status, body = anon.post(path, {})
        assert status == 401 and body["error"]["code"] == "unauthorized", path
    assert anon.get("/api/status")[0] == 200
    assert Client(anon.base, "wrong-token").post("/api/scan", {"code": "1"})[0] == 401


@pytest.mark.parametrize(
    ("path", "raw", "code"),
    [
        ("/api/scan", b"{not json", "bad_json"),
        ("/api/scan", b"[1, 2]", "bad_json"),
        ("/api/scan", b"{}", "missing_field"),
        ("/api/scan", b'{"code": 5}', "bad_field"),
        ("/api/scan", b'{"code": "4006381333931", "qty": "two"}', "bad_field"),
        ("/api/scan", b'{"code": "4006381333931", "qty": 0}', "bad_qty"),
        ("/api/scan", b'{"code": "4006381333932"}', "bad_barcode"),
        ("/api/sale/pay", b'{"tender": "cash"}', "missing_field"),
        ("/api/sale/pay", b'{"tender": "gold", "amount": 5}', "bad_tender"),
        ("/api/sale/void-line", b'{"line": "x"}', "bad_field"),
        ("/api/sales/abc/refund", b"", "bad_seq"),
        ("/api/scan", b"\xff\xfe", "bad_json"),
        # bounds where integers and strings enter (issue 8, finding #7; test_inputs.py)
        ("/api/scan", b'{"code": "4006381333931", "qty": 100000000000000000000}', "bad_qty"),
        ("/api/scan", b'{"code": "4006381333931", "qty": 1e3}', "bad_field"),
        ("/api/scan", b'{"code": "4006381333931", "qty": true}', "bad_field"),
        ("/api/scan", b'{"code": "4006381333931", "qty": NaN}', "bad_field"),
        ("/api/scan", b'{"code": "' + b"4" * 257 + b'"}', "too_long"),
        ("/api/scan", b'{"code": "\\ud800"}', "bad_field"),
        ("/api/scan", b'{"code": "40063\\u00008"}', "bad_field"),
        ("/api/scan", b"[" * 30_000 + b"]" * 30_000, "bad_json"),
        ("/api/scan", b'{"code": ' + b"9" * 5000 + b"}", "bad_json"),
        ("/api/sale/void-line", b'{"line": 100000000000000000000}', "out_of_range"),
        ("/api/sale/void-line", b'{"line": -1}', "out_of_range"),
        ("/api/sale/cancel", b'"text"', "bad_json"),
    ],
)
def test_bad_input_is_400_with_a_code(running, path: str, raw: bytes, code: str) -> None:
    client = running.client
    status, body = client.post(path, raw=raw)
    assert status == 400, body
    assert body["error"]["code"] == code and body["error"]["message"]


def test_not_found_and_conflicts(running) -> None:
    client = running.client
    status, body = client.post("/api/scan", {"code": "4000000000006"})
    assert (status, body["error"]["code"]) == (404, "unknown_product")
    assert client.post("/api/sale/void-line", {"line": 3})[0] == 404
    assert client.post("/api/sales/99/refund")[1]["error"]["code"] == "unknown_sale"
    assert client.post("/api/receipts/99/reprint")[0] == 404
    assert (
        client.post("/api/sale/pay", {"tender": "cash", "amount": 100})[1]["error"]["code"]
        == "empty_sale"
    )
    assert client.get("/api/nothing-here")[0] == 404


def test_sale_void_cancel_pay_refund(running) -> None:
    daemon, client = running.daemon, running.client
    client.post("/api/scan", {"code": "4006381333931", "qty": 2})
    client.post("/api/scan", {"code": "5000112637922"})
    status, sale = client.post("/api/sale/void-line", {"line": 0})
    assert status == 200 and [ln["name"] for ln in sale["lines"]] == ["Cola 0.5 l"]
    status, sale = client.post("/api/sale/cancel")
    assert status == 200 and sale["lines"] == [] and sale["total"] == 0
    client.post("/api/scan", {"code": "5000112637922"})
    status, part = client.post(
        "/api/sale/pay", {"tender": "card", "amount": 100, "reference": "T1"}
    )
    assert status == 200 and part["complete"] is False and part["due"] == 89
    status, done = client.post("/api/sale/pay", {"tender": "cash", "amount": 100})
    assert status == 200 and done["complete"] and done["change"] == 11 and done["claim_url"]
    seq = done["seq"]
    assert client.get("/api/sale")[1]["lines"] == []
    assert client.post(f"/api/sales/{seq}/refund") == (200, {"seq": seq, "refunded": True})
    assert daemon.outbox.get(seq).amount == 0
    daemon.store.execute("UPDATE proofs SET state = 'sending' WHERE seq = ?", (seq,))
    status, body = client.post(f"/api/sales/{seq}/refund")
    assert (status, body["error"]["code"]) == (409, "already_committed")
    queue = client.get("/api/queue")[1]
    assert queue["counts"]["sending"] == 1
    with urllib.request.urlopen(client.base + "/metrics", timeout=10) as resp:
        metrics = resp.read().decode()
    assert 'posd_proofs{state="sending"} 1.0' in metrics and "posd_sales_total 1.0" in metrics


def test_status_lists_devices_and_no_secrets(running) -> None:
    daemon, client, anon = running.daemon, running.client, running.anon
    client.post("/api/scan", {"code": "4006381333931"})
    _, done = client.post("/api/sale/pay", {"tender": "cash", "amount": 200})
    status, body = anon.get("/api/status")
    assert status == 200 and body["till"] == daemon.keys.address
    assert any(d["kind"] == "printer" for d in body["devices"])
    text = str(body) + str(anon.get("/api/queue")[1])
    fragment = done["claim_url"].split("#", 1)[1]
    assert fragment not in text and daemon.api_token not in text
    assert daemon.keys.claim_seed.hex() not in text


def test_catalog_import_while_running_takes_effect_without_restart(running, tmp_path: Path) -> None:
    daemon, client = running.daemon, running.client
    assert client.post("/api/scan", {"code": "4000000000006"})[0] == 404  # cached as unknown
    csv = tmp_path / "new.csv"
    csv.write_text("barcode,name,price_minor,tax_rate\n4000000000006,New thing,999,19\n")
    r = posd_cli("--state-dir", str(daemon.state_dir), "catalog", "import", str(csv), timeout=60)
    assert r.returncode == 0, r.stderr
    status = wait_for(
        lambda: (got := client.post("/api/scan", {"code": "4000000000006"})[0]) != 404 and got,
        3,
        "the imported product",
        0.1,
    )
    assert status == 200
    assert daemon.register.sale.lines[-1].name == "New thing"
