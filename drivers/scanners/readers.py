"""Barcode scanners on a serial port or as a keyboard wedge: one line per code.

``ScanLines`` turns a line into a Scan; the transport (serial, HID) only delivers lines, so a
code reads the same whichever cable it came down.
"""

from __future__ import annotations

from ..base import DeviceInfo, EventSink
from ..registry import register
from ..transports.hid import HidLineDriver
from ..transports.serial_port import SerialLineDriver
from .symbology import scan_from_line


class ScanLines:
    """``handle_line`` for barcode scanners, shared by the serial and HID transports.

    A mixin placed before the transport (``class X(ScanLines, SerialLineDriver)``).
    """

    device: DeviceInfo
    emit: EventSink

    def __init__(self, device: DeviceInfo, emit: EventSink) -> None:
        super().__init__(device, emit)  # type: ignore[call-arg]  # the transport's __init__
        self.aim_ids = bool(device.options.get("aim_ids", False))

    def handle_line(self, line: str) -> None:
        scan = scan_from_line(line, self.device.id, self.aim_ids)
        if scan is not None:
            self.emit(scan)


@register
class SerialScanner(ScanLines, SerialLineDriver):
    """A barcode scanner on a serial port; one line per code, AIM ids if configured."""

    kind = "scanner"
    name = "serial"
    priority = 10


@register
class HidScanner(ScanLines, HidLineDriver):
    """A keyboard-wedge barcode scanner (USB HID keyboard)."""

    kind = "scanner"
    name = "hid"
    priority = 10
