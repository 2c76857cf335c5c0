"""Finding #7 of issue 8 (API part): a client's mistake is a 400 with a code, never a 500.

Before the fix a seq over 2^63 reached SQLite (OverflowError → 500), `²` and `1_0` passed as
seqs, and amounts had no bound at the edge. Integers are bounded where they enter (DESIGN §7):
seq 1..2^63-1, amounts 0..2^48-1.
"""

from __future__ import annotations

import pytest

HUGE = "99999999999999999999"  # > 2^64


def _sale(running) -> int:
    running.client.post("/api/scan", {"code": "4006381333931"})
    status, done = running.client.post("/api/sale/pay", {"tender": "cash", "amount": 500})
    assert status == 200
    return done["seq"]


@pytest.mark.parametrize("route", ["/api/sales/{}/refund", "/api/receipts/{}/reprint"])
@pytest.mark.parametrize(
    "seq", [HUGE, str(2**63), "0", "-1", "%C2%B2", "1_0", "%201", "+1", "0x1", "1.0", "%D9%A1"]
)
def test_bad_seqs_are_400(running, route: str, seq: str) -> None:
    _sale(running)
    status, body = running.client.post(route.format(seq))
    assert status == 400, (seq, status, body)
    assert body["error"]["code"] == "bad_seq" and "seq" in body["error"]["message"]


@pytest.mark.parametrize("route", ["/api/sales/{}/refund", "/api/receipts/{}/reprint"])
def test_the_largest_seq_is_not_found_not_a_crash(running, route: str) -> None:
    status, body = running.client.post(route.format(2**63 - 1))
    assert status == 404, body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"tender": "cash", "amount": 10**20}, "out_of_range"),
        ({"tender": "cash", "amount": 2**48}, "out_of_range"),
        ({"tender": "cash", "amount": -5}, "out_of_range"),
        ({"tender": "cash", "amount": 5.0}, "bad_field"),
        ({"tender": "cash", "amount": 5.5}, "bad_field"),
        ({"tender": "cash", "amount": True}, "bad_field"),
        ({"tender": "cash", "amount": "500"}, "bad_field"),
        ({"tender": "cash", "amount": None}, "bad_field"),
        ({"tender": 7, "amount": 500}, "bad_field"),
        ({"tender": "card", "amount": 129, "reference": "x" * 1000}, "too_long"),
        ({"tender": "card", "amount": 129, "reference": 1234}, "bad_field"),
    ],
)
def test_bad_pay_bodies_are_400(running, body: dict, code: str) -> None:
    running.client.post("/api/scan", {"code": "4006381333931"})
    status, answer = running.client.post("/api/sale/pay", body)
    assert (status, answer["error"]["code"]) == (400, code), answer
    assert running.daemon.register.sale.payments == []


def test_the_largest_amount_is_accepted_at_the_edge(running) -> None:
    running.client.post("/api/scan", {"code": "4006381333931"})
    status, done = running.client.post("/api/sale/pay", {"tender": "cash", "amount": 2**48 - 1})
    assert status == 200 and done["complete"] and done["change"] == 2**48 - 1 - 129


# raw bodies out of bounds (qty, code, line, nesting): test_api.py, test_bad_input_is_400_with_a_code
