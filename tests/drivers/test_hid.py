"""The HID driver's read loop and its failure paths (no /dev/input needed)."""

from __future__ import annotations

import os
import queue
import threading

import evdev
from evdev import ecodes as e

from drivers import interfaces
from drivers.base import DeviceEvent, DeviceInfo, Scan, Status
from drivers.scanners.readers import HidScanner
from drivers.transports import hid


class PipeDevice:
    """Stands in for evdev.InputDevice: a real fd for select(), events queued by the test."""

    def __init__(self) -> None:
        self.fd, self._w = os.pipe()
        self.events: queue.Queue = queue.Queue()

    def push(self, events) -> None:
        for ev in events:
            self.events.put(ev)
        os.write(self._w, b".")

    def read(self):
        os.read(self.fd, 1)
        out = []
        while not self.events.empty():
            out.append(self.events.get())
        return out

    def close(self) -> None:
        os.close(self.fd)
        os.close(self._w)


def typed(digits: str):
    out = []
    for ch in digits:
        code = e.KEY_0 if ch == "0" else e.KEY_1 + int(ch) - 1
        out += [
            evdev.InputEvent(0, 0, e.EV_KEY, code, 1),
            evdev.InputEvent(0, 0, e.EV_KEY, code, 0),
        ]
    return out + [evdev.InputEvent(0, 0, e.EV_KEY, e.KEY_ENTER, 1)]


def test_pump_emits_scans_and_stops_on_interrupt():
    got: queue.Queue = queue.Queue()
    dev_info = DeviceInfo("hid:usb-1", "scanner", "hid", "/dev/input/event7", options={})
    drv = HidScanner(dev_info, got.put)
    dev = PipeDevice()
    wake_r, wake_w = os.pipe()
    drv._wake_w = wake_w
    t = threading.Thread(target=drv._pump, args=(dev, wake_r))
    t.start()
    try:
        dev.push(typed("4006381333931")[:10])  # split across reads
        dev.push(typed("4006381333931")[10:])
        assert got.get(timeout=2) == Scan("4006381333931", "ean13", "hid:usb-1")
    finally:
        drv._interrupt()
        t.join(timeout=2)
        assert not t.is_alive()
        os.close(wake_r)
        os.close(wake_w)
        dev.close()


def test_missing_event_node_is_a_problem(tmp_path):
    got: queue.Queue = queue.Queue()
    drv = HidScanner(DeviceInfo("h", "scanner", "hid", str(tmp_path / "event99")), got.put)
    drv.start()
    try:
        ev = got.get(timeout=2)
        assert isinstance(ev, DeviceEvent) and ev.status is Status.PROBLEM
    finally:
        drv.stop()


def test_without_evdev_nothing_crashes(monkeypatch):
    monkeypatch.setattr(interfaces, "evdev", None)
    monkeypatch.setattr(hid, "evdev", None)
    assert interfaces.EvdevInterface().scan() == []
    got: queue.Queue = queue.Queue()
    drv = HidScanner(DeviceInfo("h", "scanner", "hid", "/dev/input/event0"), got.put)
    drv.start()
    try:
        ev = got.get(timeout=2)
        assert ev.status is Status.PROBLEM and "evdev" in ev.detail
    finally:
        drv.stop()
