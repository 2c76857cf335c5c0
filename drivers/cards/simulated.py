"""The simulated card reader of ``posd run --simulate``: parsed and masked like a real one."""

from __future__ import annotations

from ..base import CardRead
from ..registry import register
from ..transports.simulated import SimulatedDriver
from .parse import parse_magstripe, parse_nfc_uid


@register
class SimulatedCardReader(SimulatedDriver):
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
