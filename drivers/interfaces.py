"""Interfaces enumerate the devices of one connection type; the manager diffs their lists.

Each ``scan()`` is a cheap, bounded look at the system (sysfs via pyserial's list_ports, the
evdev nodes), returning DeviceInfo with ids that survive replugs: serial number first, then
the USB path, never a counter or a /dev name that the kernel hands out in plug order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import serial.tools.list_ports

from .base import DeviceInfo
from .entries import device_from_config
from .transports.keymap import EV_KEY, KEY_ENTER
from .usb_ids import classify

try:  # python-evdev is Linux-only and optional: without it HID scanners are simply not found
    import evdev
except ImportError:  # pragma: no cover - depends on the platform
    evdev = None

log = logging.getLogger(__name__)

# Linux key codes (input-event-codes.h) a keyboard-wedge scanner must be able to send.
DIGIT_KEYS = frozenset(range(2, 12))  # KEY_1 .. KEY_0


class Interface:
    """Finds devices of one connection type. ``persistent`` devices are never dropped."""

    name = ""
    persistent = False

    def scan(self) -> list[DeviceInfo]:
        """Devices present now. May raise; the manager then trusts the previous list."""
        raise NotImplementedError


def _dedupe(devices: list[DeviceInfo]) -> list[DeviceInfo]:
    """Two ports of one USB device share a serial number: qualify repeats by their path."""
    seen: dict[str, int] = {}
    for d in devices:
        seen[d.id] = seen.get(d.id, 0) + 1
    return [
        DeviceInfo(f"{d.id}@{d.path}", d.kind, d.interface, d.path, d.name, d.options)
        if seen[d.id] > 1
        else d
        for d in devices
    ]


class SerialInterface(Interface):
    """Serial ports from ``serial.tools.list_ports``; kind guessed from USB ids (or empty)."""

    name = "serial"

    def __init__(self, comports: Callable[[], Iterable[Any]] | None = None) -> None:
        self._comports = comports or serial.tools.list_ports.comports

    @staticmethod
    def device_for(port: Any) -> DeviceInfo:
        """DeviceInfo for one ``ListPortInfo``."""
        if port.serial_number:
            ident = f"serial:sn-{port.serial_number}"
        elif port.location:
            ident = f"serial:usb-{port.location}"
        else:
            ident = f"serial:{port.device}"
        label = " ".join(x for x in (port.manufacturer, port.product) if x) or port.description
        return DeviceInfo(
            id=ident,
            kind=classify(port.vid, port.pid, f"{label} {port.description or ''}"),
            interface="serial",
            path=port.device,
            name=label or port.device,
            options={
                "baudrate": 9600,
                "vid": port.vid,
                "pid": port.pid,
                "serial_number": port.serial_number,
                "location": port.location,
                "hwid": port.hwid,
            },
        )

    def scan(self) -> list[DeviceInfo]:
        return _dedupe([self.device_for(p) for p in self._comports()])


def classify_input(name: str, vendor: int, product: int, keys: Iterable[int]) -> str:
    """Kind of an evdev device: only keyboard-like ones (digits + ENTER) named/known as ours.

    A real keyboard also types digits, so the USB id or name must say scanner / card reader;
    grabbing the cashier's keyboard by mistake would be far worse than missing a scanner.
    """
    keyset = set(keys)
    if KEY_ENTER not in keyset or not DIGIT_KEYS <= keyset:
        return ""
    return classify(vendor or None, product, name)


class EvdevInterface(Interface):
    """Keyboard-wedge scanners and card readers among ``/dev/input/event*``."""

    name = "hid"

    def __init__(self, paths: Callable[[], Iterable[str]] | None = None) -> None:
        self._paths = paths

    def scan(self) -> list[DeviceInfo]:
        if evdev is None:
            return []
        found = []
        paths = self._paths() if self._paths else evdev.list_devices(writable=False)
        for path in paths:
            info = self.inspect(path)
            if info is not None and info.kind:
                found.append(info)
        return _dedupe(found)

    @staticmethod
    def inspect(path: str) -> DeviceInfo | None:
        """DeviceInfo for one event node (kind empty if it is not ours); None if unreadable."""
        if evdev is None:
            return None
        try:
            dev = evdev.InputDevice(path)
        except OSError as e:  # permissions, or it vanished between list and open
            log.debug("cannot inspect %s: %s", path, e)
            return None
        try:
            keys = dev.capabilities().get(EV_KEY, [])
            ident = dev.uniq or dev.phys or path
            return DeviceInfo(
                id=f"hid:{ident}",
                kind=classify_input(dev.name, dev.info.vendor, dev.info.product, keys),
                interface="hid",
                path=path,
                name=dev.name,
                options={"vid": dev.info.vendor, "pid": dev.info.product, "phys": dev.phys},
            )
        finally:
            dev.close()


class ConfiguredInterface(Interface):
    """Devices named in the config: always "present" (their driver reconnects on its own)."""

    name = "config"
    persistent = True

    def __init__(self, entries: Iterable[Mapping[str, Any]] = ()) -> None:
        self._devices: dict[str, DeviceInfo] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Mapping[str, Any]) -> DeviceInfo:
        """Validate and remember one entry; ValueError for bad entries or a duplicate id."""
        device = device_from_config(entry)
        if device.id in self._devices:
            raise ValueError(f"device entry: duplicate device id {device.id!r} (set `id`)")
        self._devices[device.id] = device
        return device

    def remove(self, device_id: str) -> None:
        self._devices.pop(device_id, None)

    def paths(self) -> set[str]:
        """Real paths of configured devices, so auto-detection leaves them alone."""
        return {os.path.realpath(d.path) for d in self._devices.values() if d.path.startswith("/")}

    def scan(self) -> list[DeviceInfo]:
        return list(self._devices.values())
