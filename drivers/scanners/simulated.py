"""The simulated scanner of ``posd run --simulate``: ``inject(code)`` plays a scan."""

from __future__ import annotations

from ..base import Scan
from ..registry import register
from ..transports.simulated import SimulatedDriver
from .symbology import decode_scan


@register
class SimulatedScanner(SimulatedDriver):
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
