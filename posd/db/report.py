"""Read-only queries behind the end-of-day report (`posd report`, DESIGN §12).

Nothing here writes: the report reads the sales, their lines and tenders, the proofs and the
append-only event log (refunds, voided lines, cancelled sales) for one span of unix time
``[start, end)``. A sale belongs to the span by ``completed_at``; a refund or a void by the time
its event was logged. Filler and adopted rows (DESIGN §2) are not sales and are left out.
"""

from __future__ import annotations

from typing import Any

from posd.db.events import decode
from posd.db.store import Store

_SALES = "SELECT seq FROM sales WHERE kind = 'sale' AND completed_at >= ? AND completed_at < ?"


def sales(store: Store, start: float, end: float) -> list[tuple[int, int, int, bool]]:
    """``(seq, total, change, refunded)`` of each sale completed in the span, by seq."""
    rows = store.query(
        "SELECT seq, total, change, refunded FROM sales WHERE kind = 'sale' "
        "AND completed_at >= ? AND completed_at < ? ORDER BY seq",
        (start, end),
    )
    return [(r[0], r[1], r[2], bool(r[3])) for r in rows]


def tenders(store: Store, start: float, end: float) -> dict[str, tuple[int, int]]:
    """Per tender: ``(count, amount tendered)`` over the span's sales (change not deducted)."""
    rows = store.query(
        f"SELECT tender, count(*), sum(amount) FROM payments WHERE seq IN ({_SALES}) "
        "GROUP BY tender ORDER BY tender",
        (start, end),
    )
    return {r[0]: (r[1], r[2] or 0) for r in rows}


def line_groups(store: Store, start: float, end: float) -> list[tuple[int, str, int]]:
    """``(seq, tax_rate, gross)``: each sale's lines summed per tax rate (as its receipt does)."""
    rows = store.query(
        f"SELECT seq, tax_rate, sum(total) FROM sale_lines WHERE seq IN ({_SALES}) "
        "GROUP BY seq, tax_rate ORDER BY seq",
        (start, end),
    )
    return [(r[0], r[1], r[2] or 0) for r in rows]


def proofs(store: Store, start: float, end: float) -> list[tuple[str, int, int]]:
    """``(state, count, amount)`` of the proofs of the span's sales."""
    rows = store.query(
        f"SELECT state, count(*), sum(amount) FROM proofs WHERE seq IN ({_SALES}) "
        "GROUP BY state ORDER BY state",
        (start, end),
    )
    return [(r[0], r[1], r[2] or 0) for r in rows]


def events(store: Store, kinds: tuple[str, ...], start: float, end: float) -> list[dict[str, Any]]:
    """The logged events of ``kinds`` in the span, oldest first, their data decoded."""
    marks = ", ".join("?" for _ in kinds)
    rows = store.query(
        f"SELECT at, kind, data FROM events WHERE kind IN ({marks}) AND at >= ? AND at < ? "
        "ORDER BY id",
        (*kinds, start, end),
    )
    return [{"at": r[0], "kind": r[1], "data": decode(r[2])} for r in rows]


def sale_totals(store: Store, seqs: list[int]) -> dict[int, int]:
    """``{seq: total}`` for the given sales (a refund's amount is its sale's total)."""
    if not seqs:
        return {}
    marks = ", ".join("?" for _ in seqs)
    rows = store.query(f"SELECT seq, total FROM sales WHERE seq IN ({marks})", tuple(seqs))
    return {r[0]: r[1] for r in rows}


def recent_events(store: Store, limit: int) -> list[dict[str, Any]]:
    """The last ``limit`` entries of the event log, oldest first (callers mask them)."""
    rows = store.query("SELECT id, at, kind, data FROM events ORDER BY id DESC LIMIT ?", (limit,))
    return [{"id": r[0], "at": r[1], "kind": r[2], "data": decode(r[3])} for r in reversed(rows)]
