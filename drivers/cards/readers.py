"""Card readers on a serial port or as a keyboard wedge: one line per swipe track or tap.

PCI hygiene: what leaves is a CardRead with the PAN masked (``parse``); a rejected read is
reported without card data.
"""

from __future__ import annotations

import logging
import threading
import time

from ..base import DeviceEvent, DeviceInfo, EventSink
from ..registry import register
from ..transports.hid import HidLineDriver
from ..transports.serial_port import SerialLineDriver
from .parse import CardReadError, card_from_line

log = logging.getLogger(__name__)


class CardLines:
    """``handle_line`` for card readers, shared by the serial and HID transports.

    Readers that end each track with a newline deliver one swipe as two lines; a repeat of the
    same masked card within ``repeat_window`` seconds is therefore dropped (masked PAN only is
    remembered, never the number).
    """

    sensitive = True
    repeat_window = 0.5
    device: DeviceInfo
    emit: EventSink

    def __init__(self, device: DeviceInfo, emit: EventSink) -> None:
        super().__init__(device, emit)  # type: ignore[call-arg]  # the transport's __init__
        self.mode = str(device.options.get("mode", "auto"))
        self.uid_format = str(device.options.get("uid_format", "auto"))
        self._last: tuple[str, str, float] = ("", "", 0.0)
        self._card_lock = threading.Lock()

    def handle_line(self, line: str) -> None:
        try:
            read = card_from_line(line, self.device.id, self.mode, self.uid_format)
        except CardReadError as e:
            log.warning("%s: card read rejected: %s", self.device.id, e)
            status = self.status()  # type: ignore[attr-defined]
            self.emit(DeviceEvent(self.device.id, "status", status, f"card read rejected: {e}"))
            return
        key = read.masked_pan or read.uid
        now = time.monotonic()
        with self._card_lock:
            last_key, last_expiry, last_time = self._last
            self._last = (key, read.expiry, now)
        if key == last_key and read.expiry == last_expiry and now - last_time < self.repeat_window:
            return
        self.emit(read)


@register
class SerialCardReader(CardLines, SerialLineDriver):
    """A magstripe or NFC UID reader on a serial port."""

    kind = "card_reader"
    name = "serial"
    priority = 10


@register
class HidCardReader(CardLines, HidLineDriver):
    """A magstripe or NFC UID reader that types like a keyboard (grabbed, exclusive)."""

    kind = "card_reader"
    name = "hid"
    priority = 10
