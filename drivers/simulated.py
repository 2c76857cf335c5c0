"""Simulated scanner and card reader for ``posd run --simulate``, demos and tests.

They emit through the same sink and the same parsing as real devices (a simulated swipe is
parsed and masked exactly like a real one), synchronously in the caller's thread, so a test
or API call sees the event before ``inject``/``swipe``/``tap`` returns.
"""

from __future__ import annotations

from .barcode import decode_scan
from .base import CardRead, DeviceEvent, DeviceInfo, Driver, EventSink, Scan, Status
from .cardreader import parse_magstripe, parse_nfc_uid
from .registry import register


class _Simulated(Driver):
    name = "simulated"
    priority = 0

    def __init__(self, device: DeviceInfo, emit: EventSink) -> None:
        super().__init__(device, emit)
        self._running = False

    @classmethod
    def supported(cls, device: DeviceInfo) -> bool:
        return device.interface == "simulated" and device.kind == cls.kind

    def start(self) -> None:
        self._running = True
        self.emit(DeviceEvent(self.device.id, "status", Status.OK, "simulated"))

    def stop(self) -> None:
        self._running = False

    def status(self) -> Status:
        return Status.OK if self._running else Status.UNKNOWN


@register
class SimulatedScanner(_Simulated):
    """``inject(code)`` plays a scan."""

    kind = "scanner"

    def inject(self, code: str, symbology: str | None = None) -> Scan:
        """Emit a Scan for ``code`` now (symbology guessed, or AIM prefix if ``aim_ids``)."""
        text, guessed = decode_scan(code.strip(), bool(self.device.options.get("aim_ids")))
        if not text:
            raise ValueError("empty barcode")
        scan = Scan(code=text, symbology=symbology or guessed, device=self.device.id)
        self.emit(scan)
        return scan


@register
class SimulatedCardReader(_Simulated):
    """``swipe(track_data)`` plays a magstripe swipe, ``tap(uid)`` an NFC tap."""

    kind = "card_reader"

    def swipe(self, track_data: str) -> CardRead:
        """Parse, mask and emit; raises CardReadError (no card data in it) for a bad swipe."""
        read = parse_magstripe(track_data, self.device.id)
        self.emit(read)
        return read

    def tap(self, uid: str) -> CardRead:
        """Emit an NFC read; ``uid`` as a reader types it (hex or 10-digit decimal)."""
        read = CardRead(kind="nfc", device=self.device.id, uid=parse_nfc_uid(uid))
        self.emit(read)
        return read
