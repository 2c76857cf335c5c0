"""Barcode text -> (code, symbology): AIM identifiers and GTIN check digits.

Pure functions, shared by every scanner transport (serial, HID, simulated), so a code reads the
same whichever cable it came down.
"""

from __future__ import annotations

import re

from ..base import Scan

# AIM ISO/IEC 15424 symbology identifiers: "]" + code character + modifier character.
# Keyed by code character; EAN/UPC ("E") is refined by modifier and length below.
AIM_SYMBOLOGIES: dict[str, str] = {
    "A": "code39",
    "C": "code128",
    "d": "datamatrix",
    "e": "gs1-databar",
    "F": "codabar",
    "G": "code93",
    "H": "code11",
    "I": "itf",
    "L": "pdf417",
    "M": "msi",
    "Q": "qr",
    "S": "code2of5",
    "X": "unknown",
    "z": "aztec",
}
_AIM_RE = re.compile(r"\](?P<code>[A-Za-z])(?P<mod>[0-9A-Za-z])")


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (weights 3,1,3,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_check_ok(digits: str) -> bool:
    """Mod-10 check of EAN-8/UPC-A/EAN-13/GTIN-14."""
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    return gtin_check_digit(digits[:-1]) == int(digits[-1])


def upce_to_upca(upce: str) -> str:
    """Expand an 8-digit UPC-E (number system, 6 digits, check) to its 12-digit UPC-A."""
    ns, d, check = upce[0], upce[1:7], upce[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return ns + body + check


def _upce_ok(code: str) -> bool:
    return len(code) == 8 and code[0] in "01" and gtin_check_ok(upce_to_upca(code))


def guess_symbology(code: str) -> str:
    """Best guess from the digits alone; ``unknown`` rather than a wrong name.

    12/13/14 digits are UPC-A/EAN-13/ITF-14 by length (the sale checks the check digit and says
    "bad barcode", which helps a cashier more than "unknown product"). 8 digits are ambiguous
    between EAN-8 and a full UPC-E, so the check digit decides; 6 and 7 digits are UPC-E forms
    (without number system / check digit).
    """
    if not code.isascii() or not code.isdigit():
        return "unknown"
    n = len(code)
    if n == 13:
        return "ean13"
    if n == 12:
        return "upca"
    if n == 14:
        return "itf14"
    if n == 8:
        if gtin_check_ok(code):
            return "ean8"
        return "upce" if _upce_ok(code) else "ean8"
    if n == 6 or (n == 7 and code[0] in "01"):
        return "upce"
    return "unknown"


def split_aim(line: str) -> tuple[str, str | None]:
    """Strip a leading AIM identifier; return (code, symbology or None when there is none)."""
    m = _AIM_RE.match(line)
    if not m:
        return line, None
    code = line[m.end() :]
    char, mod = m["code"], m["mod"]
    if char == "E":
        if mod == "4":
            return code, "ean8"
        # ]E0 carries EAN-13, UPC-A (often as 13 digits with a leading 0) and UPC-E.
        return code, {12: "upca", 8: "upce", 7: "upce", 6: "upce"}.get(len(code), "ean13")
    if char == "I" and len(code) == 14:
        return code, "itf14"
    return code, AIM_SYMBOLOGIES.get(char, "unknown")


def decode_scan(line: str, aim_ids: bool = False) -> tuple[str, str]:
    """(code, symbology) for one scanner line; AIM prefixes are only trusted when configured."""
    if aim_ids:
        code, symbology = split_aim(line)
        if symbology is not None:
            return code, symbology
    return line, guess_symbology(line)


def scan_from_line(line: str, device_id: str, aim_ids: bool = False) -> Scan | None:
    """The Scan event for one line, or None for a line that holds no code."""
    code, symbology = decode_scan(line, aim_ids)
    if not code:
        return None
    return Scan(code=code, symbology=symbology, device=device_id)
