"""The end-of-day report (DESIGN §12): what the till sold on one day of the store's time zone.

Informational, not a fiscal closing: it reads the database and changes nothing, so it can be
run any number of times, for any day, while the till sells. Tax per rate is summed from each
sale's own breakdown (the receipt's rounding), so the report agrees with the receipts printed.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from posd.config.settings import Config
from posd.db import report as q
from posd.db.outbox import ProofState
from posd.db.store import Store
from posd.errors import BadInput
from posd.receipt.layout import ReceiptLine, format_dsg, tax_breakdown

log = logging.getLogger("posd.app.report")
NOTE = "Informational end-of-day report - not a fiscal closing."
# every state of a proof (the outbox's own enum), always all of them: a stable JSON shape
PROOF_STATES: tuple[str, ...] = tuple(s.value for s in ProofState)


class BadDay(BadInput):
    code = "bad_day"


def zone(config: Config) -> tuple[tzinfo | None, str]:
    """``[store] timezone`` (validated at load), else the system's (None: local time)."""
    if config.store.timezone:
        return ZoneInfo(config.store.timezone), config.store.timezone
    return None, "system (" + (time.tzname[0] or "local") + ")"


def parse_day(text: str | None, tz: tzinfo | None) -> date:
    """``YYYY-MM-DD``, or today in the store's time zone when not given."""
    if not text:
        return datetime.now(tz).date() if tz else datetime.now().date()
    try:
        day = date.fromisoformat(text.strip())
        if not 1971 <= day.year <= 9998:  # a day any clock and time zone can hold
            raise ValueError
        return day
    except ValueError:
        raise BadDay(
            f"day must be a date like 2026-03-31 (YYYY-MM-DD), got {text[:40]!r}"
        ) from None


def day_span(day: date, tz: tzinfo | None) -> tuple[float, float]:
    """Unix start and end of ``day``'s local midnight to midnight (23 or 25 h on a DST day)."""

    def midnight(d: date) -> float:
        naive = datetime(d.year, d.month, d.day)
        return (naive.replace(tzinfo=tz) if tz else naive.astimezone()).timestamp()

    return midnight(day), midnight(day + timedelta(days=1))


def build(config: Config, store: Store, day: str | None = None) -> dict[str, Any]:
    """The report of ``day`` (default today) as JSON-ready data."""
    tz, tz_name = zone(config)
    the_day = parse_day(day, tz)
    start, end = day_span(the_day, tz)
    sold = q.sales(store, start, end)
    gross = sum(total for _, total, _, _ in sold)
    change = sum(c for _, _, c, _ in sold)
    proofs = {s: {"count": 0, "amount": 0} for s in PROOF_STATES}
    for state, count, amount in q.proofs(store, start, end):
        if state not in proofs:  # a state this build does not know: say so, never drop it
            log.warning("report: proofs in unknown state %r", state)
        proofs[state] = {"count": count, "amount": amount}
    proven = sum(p["amount"] for p in proofs.values())
    mined = proven * config.chain.reward_rate
    return {
        "note": NOTE,
        "day": the_day.isoformat(),
        "timezone": tz_name,
        "start": int(start),
        "end": int(end),
        "store": config.store.name,
        "till": config.till.name,
        "currency": config.store.currency,
        "sales": {
            "count": len(sold),
            "gross": gross,
            "first_seq": _seq(sold, 0),
            "last_seq": _seq(sold, -1),
        },
        "tenders": _tenders(q.tenders(store, start, end), change),
        "tax": _taxes(q.line_groups(store, start, end)),
        "refunds": _refunds(store, start, end),
        "voids": _voids(store, start, end),
        "dsg_payments": dsg_payments(store, start, end),
        "proofs": proofs,
        "dsg_mined_estimate_wei": str(mined),
        "dsg_mined_estimate": format_dsg(mined),
        "generated_at": int(time.time()),
    }


def _seq(sold: list[tuple[int, int, int, bool]], i: int) -> int | None:
    return sold[i][0] if sold else None


def _tenders(found: dict[str, tuple[int, int]], change: int) -> dict[str, dict[str, int]]:
    """Per tender what stayed in the till: cash is net of the change given back."""
    out = {}
    for tender, (count, amount) in found.items():
        row = {"count": count, "amount": amount}
        if tender == "cash":
            row = {"count": count, "amount": amount - change, "tendered": amount, "change": change}
        out[tender] = row
    return out


def _taxes(groups: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
    """Per rate, highest first: the sum of each sale's own net / tax / gross for that rate."""
    sums: dict[Decimal, list[int]] = {}
    for _seq_no, rate, gross in groups:
        (group,) = tax_breakdown([ReceiptLine("", 1, gross, gross, Decimal(rate))])
        acc = sums.setdefault(group.rate, [0, 0, 0])
        acc[0] += group.net
        acc[1] += group.tax
        acc[2] += group.gross
    return [
        {"rate": format(rate, "f"), "net": n, "tax": t, "gross": g}
        for rate, (n, t, g) in sorted(sums.items(), reverse=True)
    ]


def _refunds(store: Store, start: float, end: float) -> dict[str, Any]:
    found = q.events(store, ("sale_refunded",), start, end)
    seqs = [e["data"].get("seq") for e in found if isinstance(e["data"], dict)]
    seqs = [s for s in seqs if isinstance(s, int)]
    totals = q.sale_totals(store, seqs)
    return {"count": len(seqs), "amount": sum(totals.get(s, 0) for s in seqs), "seqs": seqs}


def _voids(store: Store, start: float, end: float) -> dict[str, int]:
    """Lines voided in completed sales, and sales cancelled before payment (from the log)."""
    lines = amount = cancelled = cancelled_amount = cancelled_lines = 0
    for event in q.events(store, ("lines_voided", "sale_cancelled"), start, end):
        data = event["data"] if isinstance(event["data"], dict) else {}
        if event["kind"] == "lines_voided":
            voided = data.get("lines") or []
            lines += len(voided)
            amount += sum(int(v.get("total") or 0) for v in voided if isinstance(v, dict))
        else:
            cancelled += 1
            cancelled_amount += int(data.get("total") or 0)
            cancelled_lines += int(data.get("lines") or 0)
    return {
        "lines": lines,
        "amount": amount,
        "cancelled_sales": cancelled,
        "cancelled_amount": cancelled_amount,
        "cancelled_lines": cancelled_lines,
    }


def dsg_payments(store: Store, start: float, end: float) -> dict[str, Any]:
    """From the DSG payments table's owner (DESIGN §10), when this till has it."""
    try:
        from posd.db import payments
    except ImportError:
        return {"available": False, "detail": "DSG payments are not part of this build"}
    summary = getattr(payments, "summary", None)
    if summary is None:
        return {"available": False, "detail": "DSG payments are not part of this build"}
    try:
        found = summary(store, start, end)
    except sqlite3.Error as exc:  # its tables not migrated in yet: say so, keep the report
        return {"available": False, "detail": f"DSG payments unreadable: {exc}"}
    return {"available": True, **(found if isinstance(found, dict) else {"summary": found})}


def text(report: dict[str, Any]) -> str:
    """The report for a terminal: the same figures as the printed Z report."""
    from posd.receipt.zreport import lines

    return "\n".join(lines(report, 64))
