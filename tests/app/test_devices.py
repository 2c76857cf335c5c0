"""DeviceHub: config entries and --simulate stand-ins go to one DeviceManager, printers included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers.printers.escpos import PrinterDriver
from drivers.printers.simulated import SimulatedPrinter
from posd.app.devices import DeviceHub
from posd.till.sale import SaleError


class Recorder:
    def __init__(self) -> None:
        self.scans: list[tuple[str, str, str]] = []
        self.published: list[tuple[str, dict[str, Any]]] = []

    def scan(self, code: str, *, symbology: str, device: str) -> None:
        if code == "0000000000000":
            raise SaleError("unknown_product", "no product with this code")
        self.scans.append((code, symbology, device))

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self.published.append((kind, data))


def hub(
    tmp_path: Path, entries: list[dict[str, Any]], simulate: bool
) -> tuple[DeviceHub, Recorder]:
    rec = Recorder()
    devices = DeviceHub(
        entries,
        on_scan=rec.scan,
        publish=rec.publish,
        state_dir=tmp_path,
        simulate=simulate,
        receipt_profile="TM-T88III",
        autodetect=False,
    )
    return devices, rec


def test_simulated_till_gets_every_kind_through_the_manager(tmp_path: Path) -> None:
    devices, rec = hub(tmp_path, [], simulate=True)
    printer = devices.printer()
    assert isinstance(printer, SimulatedPrinter)  # before start(): the spooler holds it
    assert printer.directory == tmp_path / "printer" / "receipts"
    assert printer.profile == "TM-T88III" and printer.device.id == "printer:simulated"
    assert devices.simulated("printer") is printer
    devices.start()
    try:
        listed = {d["kind"]: d for d in devices.devices()}
        assert set(listed) == {"scanner", "card_reader", "printer"}
        assert listed["printer"]["path"] == str(tmp_path / "printer")
        devices.simulated("scanner").inject("4006381333931")
        devices.simulated("scanner").inject("0000000000000")  # refused by the sale: logged only
        assert rec.scans == [("4006381333931", "ean13", "scanner:simulated")]
        devices.simulated("card_reader").tap("04a1b2c3")
        card = [data for kind, data in rec.published if kind == "card"]
        assert card == [
            {"kind": "nfc", "device": "card_reader:simulated", "masked_pan": "", "uid": "04A1B2C3"}
        ]
        printer.set_online(False)
        assert rec.published[-1] == (
            "device",
            {
                "device": "printer:simulated",
                "what": "status",
                "status": "problem",
                "detail": "printer:simulated: printer offline (simulated)",
            },
        )
    finally:
        devices.stop()
    assert devices.devices() == []


def test_configured_printer_is_used_for_real_even_when_simulating(tmp_path: Path) -> None:
    entry = {"kind": "printer", "driver": "escpos-network", "host": "127.0.0.1", "tcp_port": 9}
    devices, _ = hub(tmp_path, [entry], simulate=True)
    printer = devices.printer()
    assert type(printer) is PrinterDriver and devices.simulated("printer") is None
    assert printer.device.id == "printer:127.0.0.1:9"  # the id it had before the manager
    assert printer.entry["profile"] == "TM-T88III"  # [receipt] profile when the entry has none
    devices.start()
    try:
        assert [d["id"] for d in devices.devices() if d["kind"] == "printer"] == [
            "printer:127.0.0.1:9"
        ]
    finally:
        devices.stop()


def test_configured_simulated_printer_and_no_printer(tmp_path: Path) -> None:
    entry = {"kind": "printer", "driver": "simulated", "profile": "default"}
    devices, _ = hub(tmp_path, [entry], simulate=False)
    printer = devices.printer()
    assert isinstance(printer, SimulatedPrinter) and printer.profile == "default"
    assert printer.directory == tmp_path / "printer" / "receipts"
    assert hub(tmp_path, [], simulate=False)[0].printer() is None
