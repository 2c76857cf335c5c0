"""Printer drivers: config entries → python-escpos classes with timeouts (network, serial on a
real pty, device file, usb), and the simulated printer the lead's tests drive."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from escpos.printer import Dummy
from helpers.escpos_parse import extract_qr_data, extract_text, qr_matrix, read_qr_matrix
from PIL import Image
from test_receipt import make_payload, make_receipt

from drivers.base import DeviceEvent, DeviceInfo, Status
from drivers.printers.common import PrinterError, printer_id
from drivers.printers.escpos import PrinterDriver
from drivers.printers.link import TimedFile, TimedNetwork, TimedSerial, open_printer
from drivers.printers.simulated import SimulatedPrinter
from posd.proof.claimcode import ClaimPayload
from posd.receipt.escpos import print_escpos
from posd.receipt.png import render_png

# -- open_printer ------------------------------------------------------------------------


def test_network_entry() -> None:
    p = open_printer(
        {"driver": "escpos-network", "host": "10.0.0.9", "profile": "TM-T88III", "timeout_s": 3}
    )
    assert isinstance(p, TimedNetwork)
    assert (p.host, p.port, p.timeout) == ("10.0.0.9", 9100, 3.0)
    assert p.profile.supports("qrCode")


def test_serial_entry_and_defaults() -> None:
    p = open_printer({"driver": "escpos-serial", "port": "/dev/ttyS0"}, profile="POS-5890")
    assert isinstance(p, TimedSerial)
    assert (p.devfile, p.baudrate, p.timeout) == ("/dev/ttyS0", 9600, 5.0)
    assert p.profile.get_columns("a") == 32


def test_usb_entry() -> None:
    by_path = open_printer({"driver": "escpos-usb", "path": "/dev/usb/lp0"})
    assert isinstance(by_path, TimedFile)  # the kernel's usblp driver: no pyusb needed
    try:
        import usb  # noqa: F401
    except ImportError:
        with pytest.raises(PrinterError, match="pyusb"):
            open_printer({"driver": "escpos-usb", "vendor_id": "0x04b8", "product_id": "0x0202"})
    else:  # pragma: no cover - only where pyusb is installed
        p = open_printer({"driver": "escpos-usb", "vendor_id": "04b8", "product_id": 0x0202})
        assert p.usb_args == {"idVendor": 0x04B8, "idProduct": 0x0202} and p.timeout == 5000
    assert printer_id({"driver": "escpos-usb", "vendor_id": "04b8", "product_id": "0202"}) == (
        "printer:usb:04b8:0202"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"driver": "escpos-network"}, "needs 'host'"),
        ({"driver": "escpos-serial"}, "needs 'port'"),
        ({"driver": "escpos-file"}, "needs 'path'"),
        ({"driver": "escpos-lpt", "path": "x"}, "unknown printer driver"),
        (
            {"driver": "escpos-network", "host": "h", "profile": "TM-NOPE"},
            "unknown printer profile",
        ),
        ({"driver": "escpos-network", "host": "h", "timeout_s": 0}, "timeout"),
        ({"driver": "escpos-network", "host": "h", "tcp_port": "x"}, "bad escpos-network"),
    ],
)
def test_bad_entries(entry: dict, message: str) -> None:
    with pytest.raises(PrinterError, match=message):
        open_printer(entry)


def test_supported() -> None:
    printer = DeviceInfo("p", "printer", "network", options={"driver": "escpos-network"})
    sim = DeviceInfo("s", "printer", "simulated", options={"driver": "simulated"})
    scanner = DeviceInfo("x", "scanner", "serial", options={"driver": "serial"})
    assert PrinterDriver.supported(printer) and not PrinterDriver.supported(sim)
    assert SimulatedPrinter.supported(sim) and not SimulatedPrinter.supported(printer)
    assert not PrinterDriver.supported(scanner) and not SimulatedPrinter.supported(scanner)


# -- device file and serial --------------------------------------------------------------


def test_file_printer(tmp_path: Path) -> None:
    out = tmp_path / "lp0.bin"
    driver = PrinterDriver.from_entry({"driver": "escpos-file", "path": str(out)})
    receipt = make_receipt()
    driver.print_job(lambda p: print_escpos(receipt, p))
    assert driver.status() is Status.UNKNOWN  # a file cannot say whether paper is left
    raw = out.read_bytes()
    assert extract_qr_data(raw) == [receipt.claim_url]
    assert driver.describe()["status"] == "unknown"


def test_missing_device_node_is_not_created(tmp_path: Path) -> None:
    driver = PrinterDriver.from_entry({"driver": "escpos-usb", "path": "/dev/usb/lp-posd-test"})
    with pytest.raises(PrinterError, match="not found"):
        driver.print_job(lambda p: p.text("x"))
    assert not Path("/dev/usb/lp-posd-test").exists()


def test_stalled_device_file_times_out(tmp_path: Path) -> None:
    fifo = tmp_path / "printer.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a printer that never takes data
    try:
        driver = PrinterDriver.from_entry(
            {"driver": "escpos-file", "path": str(fifo), "timeout_s": 0.5}
        )
        started = time.monotonic()
        with pytest.raises(PrinterError, match="no answer within 0.5 s"):
            driver.print_job(lambda p: p._raw(b"\x00" * 1_000_000))
        assert time.monotonic() - started < 3
    finally:
        os.close(reader)


def test_serial_printer_on_a_pty() -> None:
    master, slave = os.openpty()
    os.set_blocking(master, False)
    try:
        entry = {
            "driver": "escpos-serial",
            "port": os.ttyname(slave),
            "baudrate": 38400,
            "profile": "TM-T88III",
            "timeout_s": 1,
            "status_timeout_s": 0.2,
        }
        driver = PrinterDriver.from_entry(entry)
        receipt = make_receipt()
        chunks = bytearray()
        driver.print_job(lambda p: print_escpos(receipt, p))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and b"\x1dV" not in chunks:
            try:
                chunks += os.read(master, 65536)
            except BlockingIOError:
                time.sleep(0.01)
        raw = bytes(chunks)
        assert driver.status() is Status.UNKNOWN  # a pty does not answer DLE EOT
        assert raw.startswith(b"\x10\x04\x01")
        assert extract_qr_data(raw[3:]) == [receipt.claim_url]
        assert "Crème brûlée" in extract_text(raw[3:], "TM-T88III")
    finally:
        os.close(master)
        os.close(slave)


def test_serial_write_timeout() -> None:
    master, slave = os.openpty()  # nobody reads the master: the pty buffer fills up
    try:
        driver = PrinterDriver.from_entry(
            {"driver": "escpos-serial", "port": os.ttyname(slave), "timeout_s": 0.5}
        )
        started = time.monotonic()
        with pytest.raises(PrinterError, match="no answer within"):
            driver.print_job(lambda p: p._raw(b"\x00" * 1_000_000))
        assert time.monotonic() - started < 4
    finally:
        os.close(master)
        os.close(slave)


def test_serial_port_missing() -> None:
    driver = PrinterDriver.from_entry({"driver": "escpos-serial", "port": "/dev/ttyNOPE9"})
    with pytest.raises(PrinterError):
        driver.print_job(lambda p: p.text("x"))
    assert driver.status() is Status.PROBLEM


# -- simulated printer -------------------------------------------------------------------


def test_simulated_printer_keeps_bytes_and_copies(tmp_path: Path) -> None:
    events: list[DeviceEvent] = []
    sim = SimulatedPrinter.create(tmp_path, emit=events.append, profile="TM-T88III")
    assert sim.status() is Status.OK and sim.kind == "printer" and sim.name == "simulated"
    receipt = make_receipt()
    first = sim.print_job(lambda p: print_escpos(receipt, p), job=str(receipt.seq))
    receipt.copy = True
    second = sim.print_job(lambda p: print_escpos(receipt, p), job=str(receipt.seq))
    third = sim.print_job(lambda p: print_escpos(receipt, p), job=str(receipt.seq))
    assert [first, second, third] == [
        tmp_path / "receipts" / name for name in ("7.bin", "7-copy1.bin", "7-copy2.bin")
    ]
    assert stat.S_IMODE(first.stat().st_mode) == 0o600  # holds the claim key
    assert ClaimPayload.from_url(extract_qr_data(first.read_bytes())[0]) == make_payload()
    assert "COPY" not in extract_text(first.read_bytes(), "TM-T88III")
    assert "*** COPY ***" in extract_text(second.read_bytes(), "TM-T88III")
    assert sim.last_output == third.read_bytes()

    png = sim.save_preview(second, render_png(receipt))
    assert png == tmp_path / "receipts" / "7-copy1.png"
    image = Image.open(png)
    expected = qr_matrix(receipt.claim_url)
    assert read_qr_matrix(image, len(expected)) == expected
    as_bytes = sim.save_preview(first, png.read_bytes())
    assert as_bytes.read_bytes() == png.read_bytes()


def test_simulated_printer_failure_injection(tmp_path: Path) -> None:
    events: list[DeviceEvent] = []
    sim = SimulatedPrinter.create(tmp_path, emit=events.append)
    receipt = make_receipt()
    sim.fail_next(2, "paper jam")
    assert sim.check() is Status.OK  # checks do not consume injected failures
    for _ in range(2):
        with pytest.raises(PrinterError, match="paper jam"):
            sim.print_job(lambda p: print_escpos(receipt, p), job="7")
        assert sim.status() is Status.PROBLEM
    assert not (tmp_path / "receipts" / "7.bin").exists()  # a failed job leaves nothing
    assert sim.print_job(lambda p: print_escpos(receipt, p), job="7").name == "7.bin"
    assert sim.status() is Status.OK

    sim.set_online(False)
    assert sim.status() is Status.PROBLEM and sim.check() is Status.PROBLEM
    rendered: list[bool] = []
    with pytest.raises(PrinterError, match="offline"):
        sim.print_job(lambda p: rendered.append(True), job="8")
    assert rendered == []  # the render never ran: the job is still the caller's to keep
    sim.set_online(True)
    assert sim.check() is Status.OK
    assert sim.print_job(lambda p: print_escpos(receipt, p), job="8").name == "8.bin"
    kinds = [(e.what, e.status) for e in events]
    assert ("status", Status.PROBLEM) in kinds and kinds[-1] == ("status", Status.OK)


def test_simulated_printer_from_registry_device(tmp_path: Path) -> None:
    info = DeviceInfo(
        "sim-1", "printer", "simulated", str(tmp_path), options={"driver": "simulated"}
    )
    sim = SimulatedPrinter(info, lambda event: None)
    out = sim.print_job(lambda p: p.textln("hello"), job="../../etc/x")
    assert out.parent == tmp_path / "receipts"  # the job name cannot escape the directory
    assert isinstance(sim.connect(), Dummy)
    memory = SimulatedPrinter(DeviceInfo("s", "printer", "simulated"), lambda event: None)
    assert memory.print_job(lambda p: p.textln("hi"), job="1") is None
    assert memory.last_output.endswith(b"hi\n")


def test_registry_picks_the_printer_drivers(tmp_path: Path) -> None:
    from drivers.entries import driver_for_config

    _, cls = driver_for_config({"kind": "printer", "driver": "escpos-network", "host": "h"})
    assert cls is PrinterDriver
    _, cls = driver_for_config({"kind": "printer", "driver": "simulated", "dir": str(tmp_path)})
    assert cls is SimulatedPrinter
