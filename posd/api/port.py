"""What the local API needs of the till: a narrow interface, not the daemon object.

The composition root (:mod:`posd.app`) implements it over the register, the spooler and the
outbox; tests may implement it over anything. Every method may raise a
:class:`posd.errors.PosdError`, which the API answers with its code and HTTP status.
"""

from __future__ import annotations

import queue
from typing import Any, Protocol

from posd.till.external import ExternalOrder
from posd.till.sale import Completed


def completed_json(done: Completed, claim_url: str) -> dict[str, Any]:
    """The answer to a completed sale (pay, and the shop's POS sale): DESIGN §7, §12."""
    return {
        "complete": True,
        "seq": done.seq,
        "total": done.total,
        "paid": done.paid,
        "change": done.change,
        "time": done.time,
        "claim_address": done.claim_address,
        "claim_url": claim_url,
    }


class TillService(Protocol):
    # -- the sale in progress (fast: called on the event loop) -----------------------------------
    def sale(self) -> dict[str, Any]:
        """The open sale as JSON (DESIGN §7)."""
        ...

    def scan(self, code: str, qty: int) -> dict[str, Any]:
        """Add ``qty`` of the product ``code``; returns the sale."""
        ...

    def void_line(self, index: int) -> dict[str, Any]: ...

    # blocking (may read the staking contract): the API runs it in a worker thread
    def member(self, pass_text: str) -> dict[str, Any]:
        """Apply a membership pass (DESIGN §11) to the open sale; returns the sale."""
        ...

    def cancel(self) -> dict[str, Any]: ...

    # -- blocking calls (the API runs them in a worker thread) -----------------------------------
    def pay(self, tender: str, amount: int, reference: str) -> Completed | None:
        """Record a tender; the completed sale once it is durable, None while money is due."""
        ...

    def claim_url(self, seq: int) -> str:
        """The claim URL of sale ``seq``, answered once to the caller that completed it."""
        ...

    def refund(self, seq: int) -> None: ...

    # -- DSG payments (DESIGN §10); ``owner`` is a digest of the caller's credential -------------
    def start_dsg(self, owner: str) -> dict[str, Any]:
        """Start a DSG payment for the open sale's remaining due: the §10 object."""
        ...

    def payment(self, payment_id: str, owner: str) -> dict[str, Any]:
        """A payment's §10 object; ``claim_url`` only for the ``owner`` that started it."""
        ...

    def cancel_payment(self, payment_id: str) -> dict[str, Any]: ...

    def payments(self, states: list[str]) -> dict[str, Any]:
        """Payments and stray transfers by state (``posd payments --json``)."""
        ...

    def external_sale(self, order: ExternalOrder) -> Completed:
        """Record a sale from the shop's own POS (DESIGN §12), or find it again for a retry."""
        ...

    def open_drawer(self, who: dict[str, str]) -> dict[str, Any]:
        """Kick the cash drawer now; ``who`` (scope, session id) goes to the event log."""
        ...

    def reprint(self, seq: int) -> int:
        """Queue a COPY of sale ``seq``; returns the print job id."""
        ...

    def status(self) -> dict[str, Any]: ...

    def queue(self) -> dict[str, Any]: ...

    def metrics(self) -> bytes:
        """Prometheus exposition text."""
        ...

    # -- the event stream -------------------------------------------------------------------------
    def subscribe(self) -> queue.Queue: ...

    def unsubscribe(self, sub: queue.Queue) -> None: ...

    def stopping(self) -> bool:
        """True once the till shuts down: open event streams end."""
        ...


class SessionStore(Protocol):
    """Paired pages (DESIGN §7): pairing codes that swap for scoped sessions."""

    def redeem(self, code: str) -> tuple[str, str] | None:
        """``(session_token, scope)`` for a live single-use code, else None."""
        ...

    def scope_of(self, token: str) -> str | None:
        """The scope (display | cashier | tech) of a live session token, else None."""
        ...
