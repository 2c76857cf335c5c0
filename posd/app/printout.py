"""Print layout blocks that are not receipts (the Z report, the technician's test page).

The same ESC/POS path as a receipt (layout blocks → :func:`posd.receipt.escpos.print_blocks` →
the printer driver's ``print_job``), but not queued: the person who asked stands at the printer
and hears at once when it failed. Outside the daemon (`posd report --print`) the printer is
opened from the config, as the daemon does (its connections are per job, so both may use it).
"""

from __future__ import annotations

from drivers.printers.common import PrinterError
from drivers.printers.escpos import PrinterDriver
from posd.app.devices import printer_entry
from posd.config.settings import RECORDED, Config
from posd.errors import Unavailable
from posd.receipt.layout import Block


class PrintFailed(Unavailable):
    code = "print_failed"


class NoPrinter(Unavailable):
    code = "no_printer"


def configured_printer(config: Config) -> PrinterDriver:
    """The receipt printer: the config's first, else a `--simulate` till's simulated one."""
    entries = [dict(e) for e in config.device if e.get("kind") == "printer"]
    if not entries and (config.state_dir / RECORDED).exists():
        entries = [{"kind": "printer", "driver": "simulated", "id": "printer:simulated"}]
    if not entries:
        raise NoPrinter('no printer: add a [[device]] with kind = "printer" to the config')
    entry = printer_entry(entries[0], config.receipt.profile, config.state_dir)
    if entry.get("driver") == "simulated":
        from drivers.printers.simulated import SimulatedPrinter

        return SimulatedPrinter.create(entry["dir"], profile=entry.get("profile"))
    return PrinterDriver.from_entry(entry)


def print_document(printer: PrinterDriver | None, blocks: list[Block], width: int, job: str) -> str:
    """Print ``blocks`` now; returns the printer's id. Raises PrintFailed / NoPrinter."""
    if printer is None:
        raise NoPrinter("this till has no receipt printer")
    from posd.receipt.escpos import print_blocks  # python-escpos: only when printing

    try:
        printer.print_job(lambda p: print_blocks(blocks, width, p), job=job)
    except PrinterError as exc:
        raise PrintFailed(f"printing failed: {exc.message}") from None
    return printer.device.id
