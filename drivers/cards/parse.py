"""Card reads: ISO 7813 magstripe and NFC UID parsing, shared by every card reader driver.

PCI hygiene: the full PAN and the raw tracks exist only as local variables while parsing.
They are never stored on an object, logged, returned, or put in an exception message; what
leaves this module is a CardRead with the PAN masked to first 6 / last 4.
"""

from __future__ import annotations

import re

from ..base import CardRead
from ..masking import looks_like_pan, luhn_ok, mask_pan, mask_secrets

__all__ = [
    "CardReadError",
    "card_from_line",
    "luhn_ok",
    "mask_pan",
    "parse_magstripe",
    "parse_nfc_uid",
]

_TRACK1 = re.compile(
    r"%B(?P<pan>\d{12,19})\^(?P<name>[^^?]{0,26})\^(?P<exp>\d{4}|\^)?[^?]*\?", re.ASCII
)
_TRACK2 = re.compile(r";(?P<pan>\d{12,19})=(?P<exp>\d{4}|=)?[^?]*\?", re.ASCII)
_READ_ERROR = re.compile(r"^[%;+]E\?")
_HEX = re.compile(r"[0-9A-F]+")
_SEPARATORS = re.compile(r"[\s:\-]")
_DIGIT_RUN = re.compile(r"[0-9]+")


class CardReadError(ValueError):
    """A swipe or tap that could not be used. The message never contains card data."""


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
    # a name field holding digits could carry a card number: it is masked like any text (§7)
    name = mask_secrets(t1["name"].strip(), barcode=False) if t1 is not None else ""
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
    if not text.isascii():  # "ﬀ".upper() is "FF": normalise only what a reader can type
        raise CardReadError("NFC UID is not 1-10 bytes of hex")
    bare = _SEPARATORS.sub("", text)
    if any(looks_like_pan(run) for run in _DIGIT_RUN.findall(bare)):  # never kept or shown (§7)
        raise CardReadError(
            "the reader sent what looks like a card number, not an NFC UID; refused "
            '(a magstripe reader? set mode = "magstripe")'
        )
    is_decimal = text.isdigit()
    if uid_format == "decimal" or (uid_format == "auto" and is_decimal and len(text) == 10):
        if not is_decimal or len(text) > 25:
            raise CardReadError("NFC UID is not a decimal number")
        n = int(text)
        size = max(4, (n.bit_length() + 7) // 8)
        return n.to_bytes(size, "big").hex().upper()
    hexdigits = bare.upper()
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
