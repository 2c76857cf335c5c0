"""A sale's cart as JSON, kept with its DSG payment request so a restart finds it again (§10)."""

from __future__ import annotations

from dataclasses import asdict, fields
from decimal import Decimal
from typing import Any

from posd.till.membership import MemberState
from posd.till.sale import Line, Payment, Sale

_DECIMALS = ("qty", "tax_rate")


def _line_json(line: Line) -> dict[str, Any]:
    out = asdict(line)
    for key in _DECIMALS:
        out[key] = str(out[key])
    return out


def _line(data: dict[str, Any]) -> Line:
    known = {f.name for f in fields(Line)}
    args = {k: (Decimal(v) if k in _DECIMALS else v) for k, v in data.items() if k in known}
    return Line(**args)


def cart_json(sale: Sale) -> dict[str, Any]:
    """What completing the sale later needs: its lines, earlier tenders, voided lines, start."""
    return {
        "started_at": sale.started_at,
        "lines": [_line_json(x) for x in sale.lines],
        "voided": [_line_json(x) for x in sale.voided],
        "payments": [[p.tender, p.amount, p.reference] for p in sale.payments],
        "member": _member_json(sale),
    }


def _member_json(sale: Sale) -> dict[str, Any] | None:
    """The member as the sale shows it, and the pass's id (a hash: a repeat is no reuse)."""
    if sale.member is None:
        return None
    return {**sale.member.to_json(sale.lines), "pass_id": sale.member.pass_id}


def _member(data: dict[str, Any] | None) -> MemberState | None:
    if not data:
        return None
    return MemberState(
        address=data["address"],
        tier=int(data["tier"]),
        discount_percent=Decimal(str(data["discount_percent"])),
        source=data.get("source", ""),
        message=data.get("message", ""),
        pass_id=data.get("pass_id", ""),
        valid_until=int(data.get("valid_until", 0)),
    )


def sale_from(cart: dict[str, Any], pending: str) -> Sale:
    """The locked sale a stored cart describes: its member too (the discount is in the lines,
    the member's name goes on the receipt and on ``GET /api/sale`` after a restart)."""
    return Sale(
        started_at=cart["started_at"],
        lines=[_line(x) for x in cart["lines"]],
        voided=[_line(x) for x in cart["voided"]],
        payments=[Payment(*p) for p in cart["payments"]],
        member=_member(cart.get("member")),
        pending=pending,
    )
