"""The printed end-of-day (Z) report and the technician's test page, as layout blocks.

Both renderers' vocabulary (:mod:`posd.receipt.layout` blocks) so the Z report prints through
the same ESC/POS path as a receipt (:func:`posd.receipt.escpos.print_blocks`). Neither carries
a secret: the test page's QR holds the till's public id and address only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from posd.receipt.layout import (
    Block,
    Cut,
    Feed,
    Qr,
    Rule,
    Text,
    _lr,
    _wrap,
    format_dsg,
    format_money,
)

TITLE = "END OF DAY (Z) REPORT"


def lines(report: dict[str, Any], width: int) -> list[str]:
    """The report as plain lines of at most ``width`` columns (terminal and paper alike)."""
    return [b.text if isinstance(b, Text) else "-" * width for b in _body(report, width)]


def blocks(report: dict[str, Any], width: int) -> list[Block]:
    """The report for the receipt printer, cut at the end."""
    return [*_body(report, width), Feed(), Cut()]


def _body(report: dict[str, Any], w: int) -> list[Text | Rule]:
    cur = report["currency"]
    money = lambda amount: format_money(int(amount), cur)  # noqa: E731
    out: list[Text | Rule] = []

    def row(left: str, right: str = "", bold: bool = False) -> None:
        out.extend(Text(t, bold=bold) for t in (_lr(left, right, w) if right else _wrap(left, w)))

    out.extend(Text(t, "center", True) for t in _wrap(TITLE, w))
    out.extend(Text(t, "center") for t in _wrap(report["note"], w))
    out.append(Rule())
    row("Store", report["store"])
    row("Till", report["till"])
    row("Day", report["day"])
    row("Time zone", report["timezone"])
    out.append(Rule())
    sales = report["sales"]
    row("Sales", str(sales["count"]), bold=True)
    if sales["count"]:
        row("Receipts", f"{sales['first_seq']}..{sales['last_seq']}")
    row("Gross sales", money(sales["gross"]), bold=True)
    out.append(Rule())
    row("By tender", bold=True)
    for tender, t in sorted(report["tenders"].items()):
        row(f"  {tender} ({t['count']})", money(t["amount"]))
        if "change" in t:
            row("    tendered", money(t["tendered"]))
            row("    change given", money(-t["change"]))
    if not report["tenders"]:
        row("  none")
    out.append(Rule())
    row("By tax rate (net / tax / gross)", bold=True)
    for g in report["tax"]:
        row(f"  {g['rate']}% net", money(g["net"]))
        row(f"  {g['rate']}% tax", money(g["tax"]))
        row(f"  {g['rate']}% gross", money(g["gross"]))
    if not report["tax"]:
        row("  none")
    out.append(Rule())
    refunds, voids = report["refunds"], report["voids"]
    row(f"Refunds ({refunds['count']})", money(-refunds["amount"]))
    row(f"Voided lines ({voids['lines']})", money(voids["amount"]))
    row(f"Cancelled sales ({voids['cancelled_sales']})", money(voids["cancelled_amount"]))
    out.append(Rule())
    dsg = report["dsg_payments"]
    row("DSG payments", bold=True)
    if not dsg.get("available"):
        row("  " + str(dsg.get("detail", "not available")))
    else:
        for state, p in sorted((dsg.get("payments") or {}).items()):
            row(f"  {state} ({p.get('count', 0)})", money(p.get("due", 0)))
            if int(p.get("received_wei") or 0):
                row("    received", format_dsg(int(p["received_wei"])))
        for kind, t in sorted((dsg.get("transfers") or {}).items()):
            row(
                f"  {kind} transfers ({t.get('count', 0)})",
                format_dsg(int(t.get("value_wei") or 0)),
            )
        if not dsg.get("payments") and not dsg.get("transfers"):
            row("  none")
    out.append(Rule())
    row("Proofs by state", bold=True)
    for state, p in report["proofs"].items():  # every state, zero too: the same shape daily
        row(f"  {state} ({p['count']})", money(p["amount"]))
    row("Est. DSG mined", report["dsg_mined_estimate"], bold=True)
    out.append(Rule())
    row("Printed", _local(report["generated_at"]))
    return out


def test_page(info: dict[str, Any], width: int) -> list[Block]:
    """The technician's test print: who this till is, a QR of its id, the printer's name."""
    out: list[Block] = [Text(t, "center", True, True) for t in _wrap("TEST PRINT", width // 2)]
    out.append(Rule())
    for label in ("store", "till_name", "printer"):
        if info.get(label):
            out.extend(
                Text(t) for t in _lr(label.replace("_", " ").title(), str(info[label]), width)
            )
    out.extend(Text(t) for t in _wrap(f"Till {info['till']}", width))
    out.extend(Text(t) for t in _wrap(_local(info["at"]), width))
    out.append(Rule())
    out.append(Qr(info["qr"]))
    out.extend(Text(t, "center") for t in _wrap("QR: this till's id (public)", width))
    out.extend(Text(t, "center") for t in _wrap("àéü € £ ¥ - 0123456789", width))
    out += [Feed(), Cut()]
    return out


def _local(unix: int | float) -> str:
    return datetime.fromtimestamp(unix).strftime("%Y-%m-%d %H:%M:%S")
