"""Retail barcodes: check digits (EAN-13, EAN-8, UPC-A, UPC-E) and price/weight-embedded codes."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.barcode import gtin_check_digit, upce_to_upca

__all__ = ["BadBarcode", "Parsed", "gtin_check_digit", "parse", "upce_to_upca"]


class BadBarcode(ValueError):
    """A code that cannot be a valid retail barcode (wrong check digit, bad UPC-E, …)."""


@dataclass(frozen=True)
class Parsed:
    code: str  # as scanned
    symbology: str  # ean13 | ean8 | upca | upce | other
    lookup: tuple[str, ...]  # catalog keys to try, best first
    embedded: int | None = None  # price (minor units) or weight (grams) from a prefix-2x code


def parse(code: str, symbology: str = "", embedded: str = "price") -> Parsed:
    """Validate ``code`` and say which catalog keys it may be filed under.

    Numeric codes of length 8, 12 and 13 are retail codes and must carry a valid check digit;
    anything else (Code 128, internal codes) is looked up as is.
    """
    code = code.strip()
    if not code:
        raise BadBarcode("empty barcode")
    if not code.isdigit() or len(code) not in (8, 12, 13):
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
        raise BadBarcode(f"{kind} {code}: check digit is {code[-1]}, expected {expected}")
