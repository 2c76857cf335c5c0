"""The states of a DSG payment request and every transition between them, in one place (§10).

``decide`` reads what the chain says about a request (its counted transfers, which of them are
deep enough, the chain's time) and names the state it is in; ``move`` refuses a transition the
table below does not allow, so a bug can never reopen a paid or cancelled payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from posd.till.dsg.amount import is_dust


class PayState(StrEnum):
    AWAITING = "awaiting"  # nothing seen yet
    CONFIRMING = "confirming"  # matching transfers seen, not all deep enough
    UNDERPAID = "underpaid"  # confirmed sum short: the rest is asked under a new reference
    PAID = "paid"  # confirmed sum reached the request: the sale completes
    EXPIRED = "expired"  # the chain's time passed expires_at before it was paid
    CANCELLED = "cancelled"  # by the cashier

    @property
    def open(self) -> bool:
        return self in OPEN


OPEN = frozenset({PayState.AWAITING, PayState.CONFIRMING, PayState.UNDERPAID})
FINAL = frozenset({PayState.PAID, PayState.EXPIRED, PayState.CANCELLED})
# an open state may go to any state (back to awaiting / underpaid when a reorg takes an
# unconfirmed transfer out again); a final one to none
TRANSITIONS: dict[PayState, frozenset[PayState]] = {
    state: OPEN | FINAL if state in OPEN else frozenset() for state in PayState
}


class BadTransition(RuntimeError):
    pass


def move(old: PayState, new: PayState) -> PayState:
    if old != new and new not in TRANSITIONS[old]:
        raise BadTransition(f"a payment cannot go from {old.value} to {new.value}")
    return new


@dataclass(frozen=True)
class Counted:
    """A transfer that counts towards a request: its value and whether it is deep enough."""

    value: int
    confirmed: bool


@dataclass(frozen=True)
class Verdict:
    state: PayState
    received: int  # confirmed wei
    overpaid: int  # confirmed wei beyond the request (paid only)


def decide(
    state: PayState, required: int, expires_at: int, counted: list[Counted], chain_time: int | None
) -> Verdict:
    """The state an open request is in now; a final one stays as it is."""
    received = sum(c.value for c in counted if c.confirmed)
    if state in FINAL:
        return Verdict(
            state, received, max(received - required, 0) if state is PayState.PAID else 0
        )
    if received >= required:
        new = PayState.PAID
    elif any(not c.confirmed for c in counted):
        new = PayState.CONFIRMING
    elif chain_time is not None and chain_time > expires_at:
        new = PayState.EXPIRED
    elif received > 0:
        new = PayState.UNDERPAID
    else:
        new = PayState.AWAITING
    return Verdict(move(state, new), received, received - required if new is PayState.PAID else 0)


# what a transfer to a reference of this till is, once classified; ``refund``: it counted for a
# request that then ended without a sale (cancelled, expired) and is confirmed: the store owes it
COUNTED, DUST, LATE, UNMATCHED, REFUND = "counted", "dust", "late", "unmatched", "refund"


def classify(
    state: PayState | None, value: int, asked_wei: int, block_time: int, expires_at: int
) -> str:
    """A new transfer to one of this till's references (``state`` None: no request has it).

    Dust is judged against what the request asks NOW (``amount_wei``): the whole request under
    its first reference, the rest after an underpayment — a rest of under 1 % of the original
    request is still what the shopper must send, not dust."""
    if state is None:
        return UNMATCHED
    if not state.open or block_time > expires_at:
        return LATE
    if is_dust(value, asked_wei):
        return DUST
    return COUNTED


# what a listing (`posd payments`, GET /api/payments) takes: payment states, "open",
# "overpaid" (paid with more than asked), "refund" (cancelled or expired after DSG came in: the
# payment carries ``refund_wei``), and the kinds of stray transfers
LIST_STATES = frozenset(
    {s.value for s in PayState} | {"open", "overpaid", "refund", LATE, UNMATCHED, DUST}
)


def unknown_states(wanted: list[str]) -> list[str]:
    return [s for s in wanted if s not in LIST_STATES]
