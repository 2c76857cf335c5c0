"""`posd payments`: DSG payments (DESIGN §10) — open, paid, under/overpaid, cancelled or expired
with DSG to refund, late and unmatched transfers, with amounts (wei as decimal strings, DSG formatted) and transaction hashes. Reads the
till database, so it works beside a running daemon."""

from __future__ import annotations

from typing import Any

import click

from posd.cli.common import emit, fail, till_db


@click.command("payments")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--state",
    "states",
    default="",
    help="Comma-separated: open, awaiting, confirming, underpaid, paid, overpaid, expired, "
    "cancelled, refund (cancelled or expired with DSG received), late, unmatched, dust "
    "(default: what a store acts on).",
)
@click.pass_obj
def payments(obj: Any, as_json: bool, states: str) -> None:
    """DSG payments and the transfers to refund or assign by hand."""
    from posd.db.payments import Payments
    from posd.till.dsg.service import format_wei, listing
    from posd.till.dsg.state import LIST_STATES, unknown_states

    wanted = [s.strip() for s in states.split(",") if s.strip()]
    unknown = unknown_states(wanted)
    if unknown:
        fail(f"--state: unknown state {unknown[0]!r} (one of {', '.join(sorted(LIST_STATES))})", 2)
    with till_db(obj.config) as store:
        found = listing(Payments(store), wanted)
    if as_json:
        emit(found, True)
        return
    lines = []
    for p in found["payments"]:
        extra = f" overpaid {format_wei(int(p['overpaid_wei']))}" if "overpaid_wei" in p else ""
        if "refund_wei" in p and p["state"] != "paid":
            extra += f" to refund {format_wei(int(p['refund_wei']))}"
        seq = f" sale {p['seq']}" if "seq" in p else ""
        lines.append(
            f"{p['id']}  {p['state']:<10} asked {p['amount_wei']} wei, received {p['dsg']}"
            f"{extra}{seq}  {' '.join(p['tx_hashes'])}"
        )
    for t in found["transfers"]:
        lines.append(
            f"{t['kind']:<10} {format_wei(int(t['value_wei']))} ({t['value_wei']} wei) from "
            f"{t['from']} tx {t['tx_hash']}"
            + (f" for {t['payment_id']}" if t["payment_id"] else "")
        )
    click.echo("\n".join(lines) or "no DSG payments")
