"""What every printer module shares: the error, the driver names and defaults, stable ids.

No python-escpos import here: registering the printer drivers must stay cheap for commands that
only list devices; the library loads with the first print (``link``).
"""

from __future__ import annotations

from typing import Any

DRIVERS = ("escpos-network", "escpos-usb", "escpos-serial", "escpos-file")
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_STATUS_TIMEOUT_S = 1.0
# Cash drawer kick (ESC p m t1 t2): `drawer = "pin2" | "pin5"` selects m, `drawer_pulse_ms` the
# on time t1 (units of 2 ms, 1..255); the off time t2 equals it (Epson: t2 < t1 acts as t1).
DRAWER_PINS = {"pin2": 0, "pin5": 1}
DEFAULT_DRAWER_PULSE_MS = 100
DRAWER_PULSE_RANGE_MS = (2, 510)


class PrinterError(Exception):
    """A print job or status check failed; the message says why, for logs and the cashier."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PrinterBusy(PrinterError):
    """The printer is held by another job (a receipt) longer than the caller would wait."""


def usb_int(value: Any) -> int:
    """USB ids and endpoints: ints as they are, strings as hex like lsusb prints them."""
    if isinstance(value, int):
        return value
    return int(str(value).strip().lower().removeprefix("0x"), 16)


def printer_id(entry: dict[str, Any]) -> str:
    """A stable id from what names the printer (host:port, USB ids, port or path)."""
    driver = str(entry.get("driver", ""))
    if driver == "escpos-network":
        return f"printer:{entry.get('host', '')}:{int(entry.get('tcp_port', 9100))}"
    if driver == "escpos-usb" and not entry.get("path"):
        vendor = usb_int(entry.get("vendor_id", entry.get("vendor", 0)))
        product = usb_int(entry.get("product_id", entry.get("product", 0)))
        return f"printer:usb:{vendor:04x}:{product:04x}"
    where = entry.get("port") or entry.get("path") or entry.get("dir") or driver
    return f"printer:{where}"


def drawer_kick(entry: dict[str, Any], default_pin: str | None = None) -> list[int] | None:
    """The ESC p command for an entry's drawer as python-escpos ``cashdraw`` takes it
    (``[27, 112, m, t1, t2]``), or None when the entry drives no drawer. ValueError names a
    bad key (``drawer`` / ``drawer_pulse_ms``)."""
    pulse = entry.get("drawer_pulse_ms", DEFAULT_DRAWER_PULSE_MS)
    lo, hi = DRAWER_PULSE_RANGE_MS
    if isinstance(pulse, bool) or not isinstance(pulse, int) or not lo <= pulse <= hi:
        raise ValueError(f"key 'drawer_pulse_ms' = {pulse!r} must be an integer from {lo} to {hi}")
    pin = entry.get("drawer", default_pin)
    if pin is None or pin == "":
        return None
    if not isinstance(pin, str) or pin not in DRAWER_PINS:
        raise ValueError(f"key 'drawer' = {pin!r} is not one of {', '.join(DRAWER_PINS)}")
    units = max(1, min(255, round(pulse / 2)))
    return [27, 112, DRAWER_PINS[pin], units, units]
