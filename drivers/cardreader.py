"""Card readers: ISO 7813 magstripe and NFC UID parsing, plus serial and HID reader drivers.

PCI hygiene: the full PAN and the raw tracks exist only as local variables while parsing.
They are never stored on an object, logged, returned, or put in an exception message; what
leaves this module is a CardRead with the PAN masked to first 6 / last 4.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from .base import CardRead, DeviceEvent, DeviceInfo, EventSink
from .registry import register
from .scanner_hid import HidLineDriver
from .scanner_serial import SerialLineDriver

log = logging.getLogger(__name__)

_TRACK1 = re.compile(
    r"%B(?P<pan>\d{12,19})\^(?P<name>[^^?]{0,26})\^(?P<exp>\d{4}|\^)?[^?]*\?", re.ASCII
)
_TRACK2 = re.compile(r";(?P<pan>\d{12,19})=(?P<exp>\d{4}|=)?[^?]*\?", re.ASCII)
_READ_ERROR = re.compile(r"^[%;+]E\?")
_HEX = re.compile(r"[0-9A-F]+")


class CardReadError(ValueError):
    """A swipe or tap that could not be used. The message never contains card data."""


def luhn_ok(number: str) -> bool:
    """Luhn mod-10 check of a card number (digits only)."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, the rest ``*`` (PCI DSS display rule)."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def _expiry(exp: str | None) -> str:
    if not exp or not exp.isdigit():
        return ""
    if not 1 <= int(exp[2:]) <= 12:
        raise CardReadError("expiry month on the card is not 01-12")
    return exp


def parse_magstripe(data: str, device: str = "") -> CardRead:
    """Parse a swipe (track 1 and/or track 2, as a reader types them) into a masked CardRead.

    Track 1 gives the name; if both tracks are present their PANs must agree. Raises
    CardReadError on a reader-reported bad read, garbage, or a failed Luhn check.
    """
    text = data.strip()
    if _READ_ERROR.match(text):
        raise CardReadError("the reader reported a bad read; swipe again")
    t1 = _TRACK1.search(text)
    t2 = _TRACK2.search(text)
    if t1 is None and t2 is None:
        raise CardReadError("no ISO 7813 track 1 or track 2 found in the swipe")
    pan = (t1 or t2)["pan"]  # type: ignore[index]
    if t1 is not None and t2 is not None and t1["pan"] != t2["pan"]:
        raise CardReadError("track 1 and track 2 carry different card numbers")
    if not luhn_ok(pan):
        raise CardReadError("card number fails the Luhn check; swipe again")
    expiry = _expiry((t1 and t1["exp"]) or (t2 and t2["exp"]) or "")
    name = t1["name"].strip() if t1 is not None else ""
    return CardRead(
        kind="magstripe", device=device, masked_pan=mask_pan(pan), name=name, expiry=expiry
    )


def parse_nfc_uid(data: str, uid_format: str = "auto") -> str:
    """Normalise a UID as a reader types it to upper-case hex (``04A1B2C3``).

    Accepts hex with or without ``:``/``-``/space separators, or the 10-digit decimal form
    cheap 125 kHz / MIFARE keyboard readers print (``auto`` treats exactly 10 digits as
    decimal; set ``uid_format = "hex"`` or ``"decimal"`` when a reader is ambiguous).
    """
    text = data.strip()
    if uid_format not in ("auto", "hex", "decimal"):
        raise ValueError(f"uid_format {uid_format!r} is not one of auto, hex, decimal")
    is_decimal = text.isascii() and text.isdigit()
    if uid_format == "decimal" or (uid_format == "auto" and is_decimal and len(text) == 10):
        if not is_decimal or len(text) > 25:
            raise CardReadError("NFC UID is not a decimal number")
        n = int(text)
        size = max(4, (n.bit_length() + 7) // 8)
        return n.to_bytes(size, "big").hex().upper()
    hexdigits = re.sub(r"[\s:\-]", "", text).upper()
    if not hexdigits or len(hexdigits) > 20 or not _HEX.fullmatch(hexdigits):
        raise CardReadError("NFC UID is not 1-10 bytes of hex")
    return hexdigits.zfill(len(hexdigits) + len(hexdigits) % 2)


def card_from_line(
    line: str, device: str = "", mode: str = "auto", uid_format: str = "auto"
) -> CardRead:
    """One reader line -> CardRead: ``%``/``;`` start a swipe in ``auto`` mode, else a UID."""
    if mode == "magstripe" or (mode == "auto" and line.lstrip()[:1] in ("%", ";")):
        return parse_magstripe(line, device)
    return CardRead(kind="nfc", device=device, uid=parse_nfc_uid(line, uid_format))


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
