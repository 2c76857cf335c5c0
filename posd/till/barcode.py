"""Retail barcodes: check digits (EAN-13, EAN-8, UPC-A, UPC-E) and price/weight-embedded codes."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.masking import shorten
from drivers.scanners.symbology import gtin_check_digit, upce_to_upca
from posd.errors import BadInput

__all__ = ["MAX_CODE", "BadBarcode", "Parsed", "gtin_check_digit", "parse", "upce_to_upca"]
MAX_CODE = 256  # DESIGN §7: a §11 membership pass is 168; nothing a till scans is longer


class BadBarcode(BadInput, ValueError):
    """A code that cannot be a valid retail barcode (wrong check digit, bad UPC-E, …)."""

    code = "bad_barcode"


@dataclass(frozen=True)
class Parsed:
    code: str  # as scanned
    symbology: str  # ean13 | ean8 | upca | upce | other
    lookup: tuple[str, ...]  # catalog keys to try, best first
    embedded: int | None = None  # price (minor units) or weight (grams) from a prefix-2x code


def parse(code: str, symbology: str = "", embedded: str = "price") -> Parsed:
    """Validate ``code`` and say which catalog keys it may be filed under.

    Numeric codes of length 8, 12 and 13 are retail codes and must carry a valid check digit;
    anything else (Code 128, internal codes) is looked up as is. Digits are ASCII 0-9 only: a
    ``²``, an Arabic-Indic or a full-width digit passes ``str.isdigit()`` but is no barcode.
    Messages never quote a code unmasked (it may be a scanned card number or claim URL).
    """
    if len(code) > MAX_CODE:
        raise BadBarcode(f"code is {len(code)} characters long; at most {MAX_CODE} are accepted")
    code = code.strip()
    if not code:
        raise BadBarcode("empty barcode")
    for i, ch in enumerate(code):
        if ch.isdigit() and not "0" <= ch <= "9":
            raise BadBarcode(
                f"code has a non-ASCII digit {ch!r} at position {i + 1}; barcodes use 0-9 only"
            )
    if not code.isascii() or not code.isdigit() or len(code) not in (8, 12, 13):
        return Parsed(code, symbology or "other", (code,))
    ean8_ok = len(code) == 8 and gtin_check_digit(code[:-1]) == int(code[-1])
    if len(code) == 8 and (
        symbology == "upce" or (symbology != "ean8" and not ean8_ok and code[0] in "01")
    ):
        upca = upce_to_upca(code)
        _check(upca, "UPC-E")
        return Parsed(code, "upce", (code, upca, "0" + upca))
    _check(code, {8: "EAN-8", 12: "UPC-A", 13: "EAN-13"}[len(code)])
    if len(code) == 12:
        return Parsed(code, "upca", (code, "0" + code))
    if len(code) == 8:
        return Parsed(code, "ean8", (code,))
    if code.startswith("0"):
        return Parsed(code, "ean13", (code, code[1:]))
    if code[0] == "2":  # in-store codes 20-29: item in digits 1-7, price/weight in 8-12
        return Parsed(code, "ean13", (code[:7], code), embedded=int(code[7:12]))
    return Parsed(code, "ean13", (code,))


def _check(code: str, kind: str) -> None:
    expected = gtin_check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise BadBarcode(f"{kind} {shorten(code)}: check digit is {code[-1]}, expected {expected}")
