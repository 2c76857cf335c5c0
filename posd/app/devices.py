"""Devices → sale: scanner reads go down the same path as an API scan; card reads become events.

drivers/ finds and runs the hardware, printers included (one DeviceManager for every kind); this
module only decides what each event means for the till and which printer the spooler uses.
Under --simulate every device kind the config does not name is simulated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from drivers.base import CardRead, DeviceEvent, Driver, Event, Scan
from drivers.manager import DeviceManager
from drivers.masking import shorten
from drivers.printers.common import printer_id
from drivers.printers.escpos import PrinterDriver
from posd.till.sale import SaleError

log = logging.getLogger("posd.app.devices")
SIMULATED_KINDS = ("scanner", "card_reader", "printer")
SIMULATED_PRINTER_ID = "printer:simulated"
Publish = Callable[[str, dict[str, Any]], object]


class OnScan(Protocol):
    """Where a scanner's read goes: the register, exactly like an API scan."""

    def __call__(self, code: str, *, symbology: str, device: str) -> object: ...


def printer_entry(entry: Mapping[str, Any], profile: str, state_dir: Path) -> dict[str, Any]:
    """A printer's ``[[device]]`` entry with what posd adds: ``[receipt] profile`` when the entry
    names none, the simulated printer's directory (``<state_dir>/printer``), and the id the
    printer has always had (``printer:<host>:<port>`` ...) unless the entry sets one."""
    out = {**entry, "profile": entry.get("profile") or profile}
    if entry.get("driver") == "simulated":
        out["dir"] = str(entry.get("dir") or state_dir / "printer")
        return out
    return {"id": printer_id(out), **out}


class DeviceHub:
    """The till's devices: config entries (and --simulate stand-ins) attached to one manager.

    Gets only what it needs: the ``[[device]]`` entries, the simulate flag, where a simulated
    printer writes and the receipt profile, ``on_scan`` for scanner reads and the event bus's
    ``publish`` for card and device events. Drivers are built here, opened by ``start()``.
    """

    def __init__(
        self,
        entries: Sequence[Mapping[str, Any]],
        *,
        on_scan: OnScan,
        publish: Publish,
        state_dir: Path,
        simulate: bool = False,
        receipt_profile: str = "default",
        autodetect: bool | None = None,
    ) -> None:
        self._on_scan = on_scan
        self._publish = publish
        # a simulated till looks for nothing on its own; a real one polls serial ports and evdev
        detect = (not simulate) if autodetect is None else autodetect
        self.manager = DeviceManager(self.on_event, None if detect else [])
        self._printer_id: str | None = None
        for entry in entries:
            if entry.get("kind") == "printer":
                device = self.manager.attach(printer_entry(entry, receipt_profile, state_dir))
                self._printer_id = self._printer_id or device.id  # receipts go to the first
            else:
                self.manager.attach(entry)
        if simulate:
            named = {d.get("kind") for d in entries}
            for kind in SIMULATED_KINDS:
                if kind not in named:
                    self._attach_simulated(kind, receipt_profile, state_dir)

    def _attach_simulated(self, kind: str, profile: str, state_dir: Path) -> None:
        entry = {"kind": kind, "driver": "simulated", "id": f"{kind}:simulated"}
        if kind == "printer":
            entry = {**entry, "name": "Simulated printer", "drawer": "pin2"}  # and its drawer
            entry = printer_entry(entry, profile, state_dir)
            self._printer_id = self.manager.attach(entry).id
        else:
            self.manager.attach(entry)

    def start(self) -> None:
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop()

    def devices(self) -> list[dict[str, Any]]:
        """What `/api/status` lists: every running device, the printer included."""
        return self.manager.devices()

    def printer(self) -> PrinterDriver | None:
        """The receipt printer (the first configured, or the simulated one); None without one.
        Available from construction on, so the spooler can hold it before ``start()``."""
        driver = self.manager.driver(self._printer_id) if self._printer_id else None
        return driver if isinstance(driver, PrinterDriver) else None

    def drawer(self) -> PrinterDriver | None:
        """The cash drawer (DESIGN §12): the first ``drawer`` device, else the first printer
        whose entry names a ``drawer`` pin; None without one."""
        for kind in ("drawer", "printer"):
            for driver in self.manager.drivers(kind):
                if isinstance(driver, PrinterDriver) and (kind == "drawer" or driver.drawer):
                    return driver
        return None

    def simulated(self, kind: str) -> Driver | None:
        """The simulated driver of ``kind`` (scanner / card_reader / printer), for the API and tests."""
        return next((d for d in self.manager.drivers(kind) if d.name == "simulated"), None)

    def on_event(self, event: Event) -> None:
        if isinstance(event, Scan):
            try:
                self._on_scan(event.code, symbology=event.symbology, device=event.device)
            except SaleError as exc:  # already on the event stream for the cashier page
                log.info("scan %s from %s: %s", shorten(event.code), event.device, exc.message)
        elif isinstance(event, CardRead):
            self._publish(
                "card",
                {
                    "kind": event.kind,
                    "device": event.device,
                    "masked_pan": event.masked_pan,
                    "uid": event.uid,
                },
            )
        elif isinstance(event, DeviceEvent):
            self._publish(
                "device",
                {
                    "device": event.device,
                    "what": event.what,
                    "status": event.status.value,
                    "detail": event.detail,
                },
            )
