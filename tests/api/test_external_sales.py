"""``POST /api/sales`` (DESIGN §12): a sale rung up on the shop's own POS, proven and printed by
posd once per ``external_id``, against a real in-process daemon (SQLite file, simulated
printer, loopback HTTP)."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import pytest
from helpers.escpos_parse import extract_qr_data, qr_matrix, read_qr_matrix
from PIL import Image

LINES = [
    {"name": "Bread", "qty": 1, "unit_price": 250, "tax_rate": 7},
    {"name": "Cheese", "qty": 0.375, "unit_price": 1990, "tax_rate": 7},  # 746.25 -> 746
    {"name": "Wine", "qty": 2, "unit_price": 899, "tax_rate": 19.0},
]
TOTAL = 250 + 746 + 1798


def order(external_id: str = "POS-1:0001", **over: Any) -> dict[str, Any]:
    body = {
        "external_id": external_id,
        "lines": LINES,
        "payments": [
            {"tender": "card", "amount": 2000},
            {"tender": "cash", "amount": TOTAL - 2000},
        ],
    }
    return {**body, **over}


def count(daemon, sql: str) -> int:
    return daemon.store.one(sql)[0]


def wait_printed(daemon, n: int) -> None:
    deadline = time.monotonic() + 10
    while daemon.spooler.queued() and time.monotonic() < deadline:
        time.sleep(0.05)
    printer = daemon.devices.printer()
    while len(printer.outputs) < n and time.monotonic() < deadline:
        time.sleep(0.05)


def test_retried_three_times_one_proof_one_receipt_same_answer(running) -> None:
    daemon, client = running.daemon, running.client
    answers = [client.post("/api/sales", order()) for _ in range(3)]
    assert all(status == 200 for status, _ in answers), answers
    first = answers[0][1]
    assert all(body == first for _, body in answers)  # the claim_url included (DESIGN §7)
    assert first["seq"] == 1 and first["total"] == TOTAL and first["change"] == 0
    assert first["claim_url"].startswith(daemon.config.receipt.claim_base_url + "#")
    assert "qr_png_base64" not in first
    wait_printed(daemon, 1)
    time.sleep(0.3)
    assert count(daemon, "SELECT count(*) FROM proofs") == 1
    assert count(daemon, "SELECT count(*) FROM print_jobs") == 1
    assert count(daemon, "SELECT count(*) FROM sales") == 1
    assert len(daemon.devices.printer().outputs) == 1
    assert extract_qr_data(daemon.devices.printer().outputs[0]) == [first["claim_url"]]
    # 2 and 2.0 are the same quantity: still the same request
    same = order(lines=[*LINES[:2], {**LINES[2], "qty": 2.0, "tax_rate": 19}])
    assert client.post("/api/sales", same) == (200, first)
    # the stored lines are the POS's, as sold
    lines = daemon.store.query("SELECT name, qty, total FROM sale_lines ORDER BY line_no")
    assert [tuple(r) for r in lines] == [("Bread", "1", 250), ("Cheese", "0.375", 746),
                                         ("Wine", "2", 1798)]  # fmt: skip


def test_a_different_body_under_the_same_id_is_409(running) -> None:
    client = running.client
    assert client.post("/api/sales", order())[0] == 200
    for changed in (
        order(payments=[{"tender": "cash", "amount": TOTAL}]),
        order(lines=LINES[:2], payments=[{"tender": "card", "amount": 996}]),
        order(print=False),
        order(open_drawer=True),
    ):
        status, body = client.post("/api/sales", changed)
        assert (status, body["error"]["code"]) == (409, "external_id_conflict"), body
    assert count(running.daemon, "SELECT count(*) FROM proofs") == 1


def test_payments_must_sum_to_the_total(running) -> None:
    client = running.client
    for payments in (
        [{"tender": "cash", "amount": TOTAL + 1}],  # no change: the POS gave it already
        [{"tender": "card", "amount": TOTAL - 1}],
    ):
        status, body = client.post("/api/sales", order(payments=payments))
        assert (status, body["error"]["code"]) == (400, "payment_mismatch"), body
        assert str(TOTAL) in body["error"]["message"]
    assert count(running.daemon, "SELECT count(*) FROM sales") == 0
    # nothing was stored under the id: a corrected request goes through
    assert running.client.post("/api/sales", order())[0] == 200


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 65}, "external_id"),
        ({"external_id": "bad\nid"}, "external_id"),
        ({"external_id": 17}, "external_id"),
        ({"lines": []}, "lines"),
        ({"lines": [LINES[0], LINES[1], {**LINES[2], "qty": 1.2345}]}, "lines[2].qty"),
        ({"lines": [LINES[0], LINES[1], {**LINES[2], "qty": 0}]}, "lines[2].qty"),
        ({"lines": [LINES[0], LINES[1], {**LINES[2], "qty": "2"}]}, "lines[2].qty"),
        ({"lines": [{**LINES[0], "unit_price": 2**48}]}, "lines[0].unit_price"),
        ({"lines": [{**LINES[0], "unit_price": 2.5}]}, "lines[0].unit_price"),
        ({"lines": [{**LINES[0], "unit_price": -1}]}, "lines[0].unit_price"),
        ({"lines": [{**LINES[0], "tax_rate": 101}]}, "lines[0].tax_rate"),
        ({"lines": [{"qty": 1, "unit_price": 1, "tax_rate": 0}]}, "lines[0].name"),
        ({"lines": [{**LINES[0], "colour": "red"}]}, "lines[0].colour"),
        ({"payments": [{"tender": "dsg", "amount": TOTAL}]}, "payments[0].tender"),
        ({"payments": [{"tender": "gold", "amount": TOTAL}]}, "payments[0].tender"),
        ({"payments": [{"tender": "cash", "amount": 2**48}]}, "payments[0].amount"),
        ({"payments": [{"tender": "cash", "amount": True}]}, "payments[0].amount"),
        ({"payments": []}, "payments"),
        ({"print": "no"}, "print"),
        ({"open_drawer": 1}, "open_drawer"),
        ({"note": "hi"}, "note"),
    ],
)
def test_bad_fields_are_400_naming_the_field(running, change: dict, path: str) -> None:
    status, body = running.client.post("/api/sales", order(**change))
    assert status == 400, body
    assert body["error"]["code"] == "bad_request"
    assert body["error"]["message"].startswith(path + ":"), body


def test_missing_fields_and_totals_over_the_bound(running) -> None:
    client = running.client
    for missing in ("external_id", "lines", "payments"):
        body = {k: v for k, v in order().items() if k != missing}
        status, answer = client.post("/api/sales", body)
        assert (status, answer["error"]["message"].split(":")[0]) == (400, missing)
    huge = [{"name": "Gold", "qty": 1000, "unit_price": 2**48 - 1, "tax_rate": 0}]
    status, answer = client.post("/api/sales", order(lines=huge))
    assert (status, answer["error"]["code"]) == (400, "amount_too_large")
    assert client.post("/api/sales", raw=b"{nope")[1]["error"]["code"] == "bad_json"
    assert running.anon.post("/api/sales", order())[0] == 401


def test_print_false_returns_the_claim_qr_and_prints_nothing(running) -> None:
    daemon, client = running.daemon, running.client
    status, first = client.post("/api/sales", order(print=False))
    assert status == 200, first
    url = first["claim_url"]
    png = base64.b64decode(first["qr_png_base64"], validate=True)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    expected = qr_matrix(url)
    assert read_qr_matrix(image, len(expected)) == expected  # the symbol encodes the claim URL
    escpos = base64.b64decode(first["qr_escpos_base64"], validate=True)
    assert extract_qr_data(escpos) == [url]  # GS ( k store-data with the claim URL
    assert client.post("/api/sales", order(print=False)) == (200, first)  # retry: same answer
    time.sleep(0.3)
    assert count(daemon, "SELECT count(*) FROM print_jobs") == 0
    assert daemon.devices.printer().outputs == []
    assert count(daemon, "SELECT count(*) FROM proofs") == 1


def test_an_open_till_sale_is_untouched(running) -> None:
    client = running.client
    assert client.post("/api/scan", {"code": "4006381333931", "qty": 2})[0] == 200
    before = client.get("/api/sale")[1]
    status, ext = client.post("/api/sales", order())
    assert status == 200 and ext["seq"] == 1
    assert client.get("/api/sale")[1] == before  # the cashier's cart as it was
    status, done = client.post("/api/sale/pay", {"tender": "cash", "amount": 500})
    assert status == 200 and done["seq"] == 2 and done["total"] == before["total"]
    status, ext2 = client.post("/api/sales", order("POS-1:0002"))
    assert status == 200 and ext2["seq"] == 3
