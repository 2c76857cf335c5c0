"""`posd report [--day YYYY-MM-DD] [--json] [--print]`: the end-of-day report (DESIGN §12)."""

from __future__ import annotations

import click

from posd.cli.common import AppContext, emit
from posd.errors import NotFound


@click.command("report")
@click.option("--day", help="YYYY-MM-DD in [store] timezone (default: today).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--print", "to_printer", is_flag=True, help="Also print it on the receipt printer.")
@click.pass_obj
def report(obj: AppContext, day: str | None, as_json: bool, to_printer: bool) -> None:
    """The day's sales, tenders, tax, refunds, voids, DSG payments and proofs (not fiscal)."""
    from posd.app import report as eod
    from posd.db.store import Store

    cfg = obj.config
    if not cfg.db_path.exists():
        raise NotFound(f"{cfg.db_path}: no till database here (check --config / --state-dir)")
    store = Store(cfg.db_path)
    try:
        data = eod.build(cfg, store, day)
    finally:
        store.close()
    if to_printer:
        from posd.app.printout import configured_printer, print_document
        from posd.receipt.zreport import blocks

        width = cfg.receipt.width
        printer = print_document(
            configured_printer(cfg), blocks(data, width), width, f"zreport-{data['day']}"
        )
        data["printed_on"] = printer
    emit(data, as_json, eod.text(data) + (f"\nprinted on {printer}" if to_printer else ""))
