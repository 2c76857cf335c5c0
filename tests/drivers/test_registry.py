"""Registry selection, config mapping, the DeviceManager's poll logic, simulated devices."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from drivers.base import CardRead, DeviceEvent, DeviceInfo, Driver, Scan, Status
from drivers.cards.parse import CardReadError
from drivers.cards.readers import SerialCardReader
from drivers.cards.simulated import SimulatedCardReader
from drivers.entries import device_from_config, driver_for_config
from drivers.interfaces import (
    ConfiguredInterface,
    Interface,
    SerialInterface,
    classify_input,
)
from drivers.manager import DeviceManager
from drivers.registry import REGISTRY, Registry, best_driver
from drivers.scanners.readers import HidScanner, SerialScanner
from drivers.scanners.simulated import SimulatedScanner


# -- registry ----------------------------------------------------------------------------------
class Low(Driver):
    kind, name, priority = "scanner", "low", 1

    @classmethod
    def supported(cls, device):
        return device.kind == "scanner"


class High(Low):
    name, priority = "high", 5

    @classmethod
    def supported(cls, device):
        return device.kind == "scanner" and device.interface == "fake"


def test_best_driver_by_priority():
    reg = Registry()
    reg.register(Low)
    assert reg.register(High) is High
    reg.register(High)  # idempotent
    assert reg.drivers() == [High, Low]
    assert reg.best_driver(DeviceInfo("a", "scanner", "fake")) is High
    assert reg.best_driver(DeviceInfo("b", "scanner", "serial")) is Low
    assert reg.best_driver(DeviceInfo("c", "printer", "fake")) is None


def test_register_rejects_incomplete_classes():
    reg = Registry()
    with pytest.raises(ValueError, match="kind"):
        reg.register(type("Nameless", (Driver,), {}))
    with pytest.raises(TypeError):
        reg.register(object)  # type: ignore[arg-type]


def test_listing_drivers_does_not_load_python_escpos():
    """`posd devices` asks the registry; python-escpos (and PIL) load with the first print."""
    code = (
        "import sys; from drivers.registry import REGISTRY; "
        "names = {c.name for c in REGISTRY.drivers() if c.kind == 'printer'}; "
        "assert names == {'escpos', 'simulated'}, names; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('escpos', 'PIL', 'posd')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_builtin_drivers_are_registered():
    names = {(c.kind, c.name) for c in REGISTRY.drivers()}
    assert {("scanner", "serial"), ("scanner", "hid"), ("card_reader", "serial")} <= names
    assert {("card_reader", "hid"), ("scanner", "simulated"), ("card_reader", "simulated")} <= names
    assert best_driver(DeviceInfo("x", "scanner", "hid", "/dev/input/event3")) is HidScanner


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "entry,cls,path",
    [
        ({"kind": "scanner", "driver": "serial", "port": "/dev/ttyACM0"}, SerialScanner, ""),
        ({"kind": "scanner", "driver": "hid", "path": "/dev/input/by-id/x"}, HidScanner, ""),
        ({"kind": "card_reader", "driver": "serial", "port": "/dev/ttyUSB1"}, SerialCardReader, ""),
        ({"kind": "scanner", "driver": "simulated"}, SimulatedScanner, ""),
        ({"kind": "card_reader", "driver": "simulated", "id": "cr2"}, SimulatedCardReader, ""),
    ],
)
def test_driver_for_config(entry, cls, path):
    device, got = driver_for_config(entry)
    assert got is cls
    assert device.kind == entry["kind"]
    assert device.options["driver"] == entry["driver"]


def test_config_ids_and_defaults():
    d = device_from_config({"kind": "scanner", "driver": "serial", "port": "/dev/pts/7"})
    assert (d.id, d.interface, d.path, d.options["baudrate"]) == (
        "scanner:serial:/dev/pts/7",
        "serial",
        "/dev/pts/7",
        9600,
    )
    p = device_from_config({"kind": "printer", "driver": "escpos-network", "host": "10.0.0.9"})
    assert (p.interface, p.path, p.options["tcp_port"]) == ("network", "10.0.0.9:9100", 9100)
    s = device_from_config({"kind": "scanner", "driver": "simulated"})
    assert s.id == "scanner:simulated" and s.interface == "simulated"


@pytest.mark.parametrize(
    "entry,key",
    [
        ({"driver": "serial", "port": "/dev/x"}, "'kind'"),
        ({"kind": "scaner", "driver": "serial", "port": "/dev/x"}, "'kind' = 'scaner'"),
        ({"kind": "scanner", "driver": "usb-magic"}, "'driver' = 'usb-magic'"),
        ({"kind": "scanner", "driver": "escpos-usb"}, "'driver' = 'escpos-usb'"),
        ({"kind": "scanner", "driver": "serial"}, "'port'"),
        ({"kind": "scanner", "driver": "serial", "port": ""}, "'port'"),
        ({"kind": "scanner", "driver": "serial", "port": "/x", "baudrate": "fast"}, "'baudrate'"),
        ({"kind": "scanner", "driver": "serial", "port": "/x", "baudrate": True}, "'baudrate'"),
        ({"kind": "scanner", "driver": "hid"}, "'path'"),
        ({"kind": "printer", "driver": "escpos-network", "host": "h", "tcp_port": 0}, "'tcp_port'"),
        (
            {"kind": "scanner", "driver": "serial", "port": "/x", "terminator": "ETX"},
            "'terminator'",
        ),
        ({"kind": "scanner", "driver": "serial", "port": "/x", "aim_ids": "yes"}, "'aim_ids'"),
        ({"kind": "card_reader", "driver": "hid", "path": "/x", "mode": "chip"}, "'mode'"),
        (["kind", "scanner"], "table"),
    ],
)
def test_config_errors_name_the_key(entry, key):
    with pytest.raises(ValueError) as info:
        driver_for_config(entry)
    assert key in str(info.value)


def test_config_without_a_driver():
    with pytest.raises(ValueError, match="no driver available for kind 'drawer'"):
        driver_for_config({"kind": "drawer", "driver": "simulated"}, Registry())


# -- manager -----------------------------------------------------------------------------------
class FakeInterface(Interface):
    """A test-controlled device list; exercises the manager's diffing, not hardware."""

    name = "fake"

    def __init__(self) -> None:
        self.present: list[DeviceInfo] = []
        self.fail = False

    def scan(self) -> list[DeviceInfo]:
        if self.fail:
            raise OSError("bus error")
        return list(self.present)


class FakeDriver(Driver):
    kind, name, priority = "scanner", "fake", 1
    started: list[str] = []
    stopped: list[str] = []

    @classmethod
    def supported(cls, device):
        return device.interface == "fake" and device.kind == "scanner"

    def start(self):
        FakeDriver.started.append(self.device.id)

    def stop(self):
        FakeDriver.stopped.append(self.device.id)

    def status(self):
        return Status.OK


@pytest.fixture
def fake():
    FakeDriver.started, FakeDriver.stopped = [], []
    reg = Registry()
    reg.register(FakeDriver)
    iface = FakeInterface()
    events: list = []
    mgr = DeviceManager(events.append, [iface], registry=reg, poll_interval=None)
    return mgr, iface, events


def ids(mgr):
    return sorted(d["id"] for d in mgr.devices())


def test_vanished_device_dropped_after_three_missed_polls(fake):
    mgr, iface, events = fake
    dev = DeviceInfo("usb-1-1.2", "scanner", "fake", "/dev/fake0")
    iface.present = [dev, DeviceInfo("kbd", "keyboard", "fake")]  # unclaimed: ignored
    mgr.start()
    assert ids(mgr) == ["usb-1-1.2"] and FakeDriver.started == ["usb-1-1.2"]
    assert events[0] == DeviceEvent("usb-1-1.2", "added", Status.UNKNOWN, "fake")
    iface.present = []
    mgr.poll()
    mgr.poll()
    assert ids(mgr) == ["usb-1-1.2"]  # two misses: kept
    iface.present = [dev]
    mgr.poll()  # back: the miss count resets, no restart
    iface.present = []
    mgr.poll()
    mgr.poll()
    assert ids(mgr) == ["usb-1-1.2"] and FakeDriver.stopped == []
    mgr.poll()  # third miss in a row
    assert ids(mgr) == [] and FakeDriver.stopped == ["usb-1-1.2"]
    assert events[-1] == DeviceEvent("usb-1-1.2", "removed", Status.UNKNOWN)
    assert FakeDriver.started == ["usb-1-1.2"]


def test_failed_interface_scan_is_not_a_miss(fake):
    mgr, iface, _ = fake
    iface.present = [DeviceInfo("a", "scanner", "fake")]
    mgr.start()
    iface.fail = True
    for _ in range(5):
        mgr.poll()
    assert ids(mgr) == ["a"]


def test_replug_under_new_path_restarts_driver(fake):
    mgr, iface, _ = fake
    iface.present = [DeviceInfo("sn-1", "scanner", "fake", "/dev/ttyACM0")]
    mgr.start()
    iface.present = [DeviceInfo("sn-1", "scanner", "fake", "/dev/ttyACM1")]
    mgr.poll()  # drops the old one
    mgr.poll()
    assert mgr.driver("sn-1").device.path == "/dev/ttyACM1"
    assert FakeDriver.started == ["sn-1", "sn-1"] and FakeDriver.stopped == ["sn-1"]


def test_configured_path_is_not_auto_claimed(fake, tmp_path):
    mgr, iface, _ = fake
    port = tmp_path / "ttyACM0"
    port.touch()
    iface.present = [DeviceInfo("sn-9", "scanner", "fake", str(port))]
    mgr.start()
    assert ids(mgr) == ["sn-9"]
    mgr.registry.register(SimulatedScanner)
    mgr.registry.register(SerialScanner)
    mgr.attach({"kind": "scanner", "driver": "serial", "port": str(port), "id": "front"})
    mgr.poll()
    assert ids(mgr) == ["front"]  # the config owns the port now
    mgr.stop()


def test_reserved_paths_are_left_alone(fake, tmp_path):
    mgr, iface, _ = fake
    iface.present = [DeviceInfo("sn-7", "scanner", "fake", str(tmp_path / "ttyUSB0"))]
    mgr.reserve([str(tmp_path / "ttyUSB0")])
    mgr.start()
    assert ids(mgr) == []


def test_manager_simulated_devices_and_sink_errors():
    events: list = []

    def sink(ev):
        events.append(ev)
        if isinstance(ev, Scan) and ev.code == "boom":
            raise RuntimeError("sink bug")

    mgr = DeviceManager(sink, interfaces=[], poll_interval=0.05)
    mgr.attach({"kind": "scanner", "driver": "simulated"})
    mgr.attach({"kind": "card_reader", "driver": "simulated"})
    with pytest.raises(ValueError, match="duplicate"):
        mgr.attach({"kind": "scanner", "driver": "simulated"})
    mgr.start()
    try:
        scanner = mgr.driver("scanner:simulated")
        reader = mgr.drivers("card_reader")[0]
        assert isinstance(scanner, SimulatedScanner) and isinstance(reader, SimulatedCardReader)
        assert scanner.inject("4006381333931") == Scan(
            "4006381333931", "ean13", "scanner:simulated"
        )
        scanner.inject("boom")  # a failing sink is logged, not raised into the device
        read = reader.swipe(";4111111111111111=2512101?")
        assert read.masked_pan == "411111******1111"
        assert reader.tap("04a1b2c3").uid == "04A1B2C3"
        with pytest.raises(CardReadError):
            reader.swipe("not a card")
        assert {d["status"] for d in mgr.devices()} == {"ok"}
        assert [type(e) for e in events if not isinstance(e, DeviceEvent)] == [
            Scan,
            Scan,
            CardRead,
            CardRead,
        ]
        assert mgr.detach("scanner:simulated") and not mgr.detach("nope")
        assert [d["id"] for d in mgr.devices()] == ["card_reader:simulated"]
    finally:
        mgr.stop()


def test_printers_go_through_the_manager(tmp_path):
    """A printer entry is attached like any device; its driver exists before start() (the print
    spooler holds it) and is the one the manager then runs, lists and stops."""
    from drivers.printers.escpos import PrinterDriver
    from drivers.printers.simulated import SimulatedPrinter

    events: list = []
    mgr = DeviceManager(events.append, interfaces=[], poll_interval=None)
    net = mgr.attach({"kind": "printer", "driver": "escpos-network", "host": "127.0.0.1"})
    sim = mgr.attach({"kind": "printer", "driver": "simulated", "dir": str(tmp_path)})
    assert (sim.id, sim.path) == ("printer:simulated", str(tmp_path))
    before = mgr.driver(sim.id)
    assert isinstance(before, SimulatedPrinter) and isinstance(mgr.driver(net.id), PrinterDriver)
    assert [d.device.id for d in mgr.drivers("printer")] == [net.id, sim.id]
    assert mgr.devices() == []  # built, not running
    mgr.start()
    try:
        assert mgr.driver(sim.id) is before and mgr.drivers("printer")[1] is before
        assert sorted(d["id"] for d in mgr.devices()) == sorted([net.id, sim.id])
        assert (
            before.print_job(lambda p: p.textln("hi"), job="1") == tmp_path / "receipts" / "1.bin"
        )
        before.set_online(False)  # printer status reaches the manager's sink like any device's
        assert events[-1] == DeviceEvent(
            sim.id, "status", Status.PROBLEM, f"{sim.id}: printer offline (simulated)"
        )
    finally:
        mgr.stop()
    assert mgr.devices() == [] and mgr.driver(sim.id) is before  # still attached
    assert mgr.detach(sim.id) and mgr.driver(sim.id) is None


def test_manager_concurrent_attach_and_devices():
    mgr = DeviceManager(lambda ev: None, interfaces=[], poll_interval=0.01)
    mgr.start()
    errors = []

    def worker(n):
        try:
            for i in range(20):
                mgr.attach({"kind": "scanner", "driver": "simulated", "id": f"s{n}-{i}"})
                mgr.devices()
        except Exception as e:  # pragma: no cover - the failure being tested for
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(mgr.devices()) == 80
    mgr.stop()


# -- interfaces ------------------------------------------------------------------------------
class Port:
    def __init__(self, device, vid=None, pid=None, serial_number=None, location=None, product=None):
        self.device, self.vid, self.pid = device, vid, pid
        self.serial_number, self.location = serial_number, location
        self.manufacturer, self.product = None, product
        self.description, self.hwid = product or "n/a", "n/a"


def test_serial_interface_ids_and_kinds():
    ports = [
        Port("/dev/ttyACM0", 0x0C2E, 0x0B61, serial_number="19123", location="1-1.2:1.0"),
        Port("/dev/ttyACM1", 0x1234, 0x0001, location="1-1.3:1.0", product="Barcode Scanner"),
        Port("/dev/ttyUSB0", 0x0403, 0x6001, serial_number="A1", location="1-1.4:1.0"),
        Port("/dev/ttyUSB1", 0x0403, 0x6001, serial_number="A1", location="1-1.4:1.1"),
        Port("/dev/ttyAMA0"),
    ]
    found = {d.path: d for d in SerialInterface(lambda: ports).scan()}
    assert found["/dev/ttyACM0"].id == "serial:sn-19123" and found["/dev/ttyACM0"].kind == "scanner"
    assert found["/dev/ttyACM1"].id == "serial:usb-1-1.3:1.0"
    assert found["/dev/ttyACM1"].kind == "scanner"  # by name
    assert (
        found["/dev/ttyUSB0"].id == "serial:sn-A1@/dev/ttyUSB0" and found["/dev/ttyUSB0"].kind == ""
    )
    assert found["/dev/ttyAMA0"].id == "serial:/dev/ttyAMA0"
    assert best_driver(found["/dev/ttyACM0"]) is SerialScanner
    assert best_driver(found["/dev/ttyUSB0"]) is None  # unknown: left alone


def test_evdev_classification_never_takes_a_keyboard():
    full = list(range(1, 120))
    assert classify_input("Honeywell Imaging 1900", 0x0C2E, 0x0901, full) == "scanner"
    assert classify_input("USB Barcode Scanner", 0x1A2B, 1, full) == "scanner"
    assert classify_input("Mag-Tek USB Swipe Reader", 0x0801, 2, full) == "card_reader"
    assert classify_input("Logitech USB Keyboard", 0x046D, 0xC31C, full) == ""
    assert classify_input("Honeywell consumer control", 0x0C2E, 1, [113, 114]) == ""


def test_configured_interface_paths(tmp_path):
    iface = ConfiguredInterface([{"kind": "scanner", "driver": "serial", "port": "/dev/pts/9"}])
    assert [d.id for d in iface.scan()] == ["scanner:serial:/dev/pts/9"]
    assert iface.persistent and "/dev/pts/9" in iface.paths()
