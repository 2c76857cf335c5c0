"""The printed DSG payment stub (``[dsg] print_stub``, DESIGN §10): layout, and printing from
the event bus on a network printer (a real TCP listener on 127.0.0.1) with a native QR that
decodes back to the payment's URI — never anything else."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers.daemon_util import provision
from helpers.escpos_parse import FakePrinter, extract_qr_data, extract_text, free_port

from drivers.printers.escpos import PrinterDriver
from posd.receipt.layout import Qr, Text, format_wei
from posd.receipt.stub import StubInfo, StubPrinter, stub_blocks
from posd.till.events import EventBus

VECTOR = json.loads((Path(__file__).parents[1] / "vectors.json").read_text())["payment_uri"]
FAST = {"timeout_s": 2, "status_timeout_s": 0.3}
INFO = StubInfo(store_name="Corner Shop", till_name="Till 1", currency="EUR", width=42)


def payment(**extra: object) -> dict[str, object]:
    return {
        "id": "p7",
        "state": "awaiting",
        "uri": VECTOR["uri"],
        "amount_wei": VECTOR["amount_wei"],
        "discount": 62,
        "expires_at": int(time.time()) + 900,
        **extra,
    }


def texts(blocks: list) -> str:
    return "\n".join(b.text for b in blocks if isinstance(b, Text))


def test_the_stub_carries_the_uri_amount_and_discount() -> None:
    blocks = stub_blocks(payment(), INFO)
    assert [b.data for b in blocks if isinstance(b, Qr)] == [VECTOR["uri"]]
    text = texts(blocks)
    assert "PAY WITH DSG" in text and "Corner Shop" in text and "Till 1" in text
    assert "12.34 DSG" in text  # short form, then the exact amount with its reference digits
    assert "exactly 12.340000000007424242 DSG" in text
    assert "-€0.62" in text and "Not a receipt" in text
    assert all(len(b.text) * (2 if b.double else 1) <= 42 for b in blocks if isinstance(b, Text))
    assert format_wei(10**18) == "1 DSG"


def test_a_stub_never_carries_anything_but_an_ethereum_uri() -> None:
    for uri in ("https://claim.example/c#Asecretkey", "ethereum:0xabc#frag", "", None):
        with pytest.raises(ValueError, match="no payment URI"):
            stub_blocks(payment(uri=uri), INFO)


def test_stubs_print_from_the_event_bus_on_a_network_printer() -> None:
    bus = EventBus()
    with FakePrinter() as fake:
        driver = PrinterDriver.from_entry({**fake.entry, "profile": "TM-T88III", **FAST})
        stubs = StubPrinter(bus.subscribe, bus.unsubscribe, driver, INFO, bus.publish)
        news = bus.subscribe()
        stubs.start()
        try:
            bus.publish("payment_updated", payment())
            bus.publish("payment_updated", payment(state="confirming"))  # no new QR: no stub
            bus.publish("payment_updated", {"payment": payment()})  # the same QR again: no stub
            rest = "5000000000007000001"
            bus.publish(
                "payment_updated",
                {"payment": payment(state="underpaid", amount_wei=rest, uri="ethereum:rest")},
            )
            bus.publish("payment_updated", payment(state="paid"))
            printed = wait_for(news, "printed", 2)
        finally:
            stubs.stop()
        jobs = [j for j in fake.jobs if b"\x1b@" in j]
        assert [d["stub"] for d in printed] == ["p7", "p7"]
        assert len(jobs) == 2
        assert extract_qr_data(jobs[0]) == [VECTOR["uri"]]  # native GS ( k on this profile
        assert extract_qr_data(jobs[1]) == ["ethereum:rest"]
        first = extract_text(jobs[0], "TM-T88III")
        assert "PAY WITH DSG" in first and "Corner Shop" in first
        assert "DSG: PAY THE REST" in extract_text(jobs[1], "TM-T88III")


def test_a_stub_that_cannot_print_is_reported_not_retried() -> None:
    bus = EventBus()
    driver = PrinterDriver.from_entry(
        {"driver": "escpos-network", "host": "127.0.0.1", "tcp_port": free_port(), **FAST}
    )
    stubs = StubPrinter(bus.subscribe, bus.unsubscribe, driver, INFO, bus.publish)
    news = bus.subscribe()
    stubs.start()
    try:
        bus.publish("payment_updated", payment(id="p9"))
        (failed,) = wait_for(news, "print_failed", 1)
    finally:
        stubs.stop()
    assert failed["stub"] == "p9" and "refused" in failed["error"]
    assert stubs.handle(payment(id="p9")) is False  # once per QR, even when it failed


def wait_for(sub, kind: str, count: int, timeout: float = 10) -> list[dict]:
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        try:
            event = sub.get(True, 0.2)
        except Exception:  # noqa: BLE001 - queue.Empty
            continue
        if event["kind"] == kind:
            found.append(event["data"])
    time.sleep(0.3)  # nothing more arrives
    while not sub.empty():
        event = sub.get_nowait()
        if event["kind"] == kind:
            found.append(event["data"])
    return found


def test_the_daemon_prints_a_stub_when_print_stub_is_on(tmp_path: Path) -> None:
    """The wiring: ``[dsg] print_stub = true`` and a printer → a stub per new payment QR."""
    from posd.app.daemon import Daemon
    from posd.config import settings as configmod

    cfg = configmod.load(None, state_dir=str(tmp_path))
    cfg.device = [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")}]
    cfg.api.port = 0
    cfg.explicit.add("api.port")
    cfg.dsg.print_stub = True
    provision(cfg)  # a bound till (its demo catalog is not used here)
    daemon = Daemon(cfg, simulate=False)
    daemon.start()
    try:
        daemon.bus.publish("payment_updated", {"payment": payment(id="pd1")})
        stub = tmp_path / "printer" / "receipts" / "stub-pd1.bin"
        deadline = time.monotonic() + 10
        while not stub.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert extract_qr_data(stub.read_bytes()) == [VECTOR["uri"]]
    finally:
        daemon.stop()
