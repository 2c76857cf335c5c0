"""DSG payment numbers and states (DESIGN §10, §7 Discounts): the vector, references, dust,
discounts per line, and the transitions table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posd.till.dsg import amount as amt
from posd.till.dsg.state import BadTransition, Counted, PayState, classify, decide, move

VECTOR = json.loads((Path(__file__).parents[1] / "vectors.json").read_text())["payment_uri"]


def test_payment_uri_vector() -> None:
    v = VECTOR
    wei = amt.amount_wei(v["due_minor"], v["rate"], v["till_slot"], v["n"])
    assert str(wei) == v["amount_wei"]
    assert amt.payment_uri(v["token"].lower(), v["chain_id"], v["payout"].lower(), wei) == v["uri"]
    assert amt.slot_of(wei) == v["till_slot"]
    assert amt.reference_of(wei) == v["till_slot"] * 10**6 + v["n"]


def test_amount_rounds_down_to_gwei_then_adds_the_reference() -> None:
    assert amt.wei_for(3, 10**9 + 7) == 3 * 10**9
    assert amt.amount_wei(1, 1234567891, 0, 1) == 10**9 + 1
    with pytest.raises(ValueError):
        amt.reference(1000, 1)
    with pytest.raises(ValueError):
        amt.reference(1, 0)


def test_new_reference_avoids_used_ones() -> None:
    draws = iter([4, 4, 9])
    used = {7 * 10**6 + 5}
    assert amt.new_reference(7, used, lambda _n: next(draws)) == 7 * 10**6 + 10


def test_rest_is_rounded_up_and_dust_is_under_one_percent() -> None:
    assert amt.rest_wei(10**9 + 1, 42) == 2 * 10**9 + 42
    assert amt.is_dust(99, 10_000) and not amt.is_dust(100, 10_000)


def test_discount_per_line_half_up_on_the_dsg_part() -> None:
    assert amt.line_discounts([105, 95], 200, 10) == [11, 10]  # 10.5 -> 11, 9.5 -> 10
    assert amt.line_discounts([100, 100], 100, 10) == [5, 5]  # half paid before in cash
    assert amt.line_discounts([100], 100, 0) == [0]


def test_states_and_transitions() -> None:
    req, exp = 1000, 100
    assert decide(PayState.AWAITING, req, exp, [], 50).state is PayState.AWAITING
    seen = decide(PayState.AWAITING, req, exp, [Counted(1000, False)], 50)
    assert seen.state is PayState.CONFIRMING
    paid = decide(PayState.CONFIRMING, req, exp, [Counted(1200, True)], 50)
    assert paid.state is PayState.PAID and paid.overpaid == 200
    assert decide(PayState.AWAITING, req, exp, [Counted(400, True)], 50).state is PayState.UNDERPAID
    assert decide(PayState.UNDERPAID, req, exp, [Counted(400, True)], 101).state is PayState.EXPIRED
    # a reorg took the only transfer out: back to awaiting
    assert decide(PayState.CONFIRMING, req, exp, [], 60).state is PayState.AWAITING
    assert (
        decide(PayState.CANCELLED, req, exp, [Counted(1000, True)], 60).state is PayState.CANCELLED
    )
    with pytest.raises(BadTransition):
        move(PayState.PAID, PayState.AWAITING)
    assert classify(None, 10, 0, 0, 0) == "unmatched"
    assert classify(PayState.CANCELLED, 1000, 1000, 5, 10) == "late"
    assert classify(PayState.AWAITING, 1000, 1000, 11, 10) == "late"
    assert classify(PayState.AWAITING, 1, 1000, 5, 10) == "dust"
    assert classify(PayState.AWAITING, 1000, 1000, 5, 10) == "counted"
