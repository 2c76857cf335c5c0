"""The one masking function for text that came from outside (DESIGN §7).

Whatever a scanner types, whatever a cashier enters as a payment reference: before it reaches a
log line, the event stream or the database, codes that look like secrets are masked here. It
lives in drivers/ (importing only the scanners' GTIN check) because drivers never import posd,
and both need it: the drivers for their own log lines, posd for events, rows and printed
references.

What is masked:

* a claim URL's fragment (``…#<base64url>``: the receipt's claim key) → ``#<masked>``;
* magstripe track data (``%B<pan>^NAME^…?`` / ``;<pan>=…?``) → the PAN 6/4 and ``***``;
* a card number: 13–19 digits (spaces or dashes allowed between them) that pass the Luhn check
  → first 6 / last 4 (a whole text that is a valid 13-digit EAN is a product code, not a card:
  the cashier must see which product is unknown);
* 64 hex digits (a private or claim key) and a bare 136-character base64url claim payload.
"""

from __future__ import annotations

import re

from .scanners.symbology import gtin_check_ok

MASK = "<masked>"
_TRACK = re.compile(r"(?:%[A-Za-z]?|;)?(?P<pan>\d{12,19})(?P<sep>[\^=])[^?\r\n]*\??", re.ASCII)
_DIGIT_RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")  # digits in groups: "4111 1111 1111 1111"
_FRAGMENT = re.compile(r"#\S*")
_HEX_KEY = re.compile(r"(?<![0-9A-Fa-fxX])(?:0[xX])?[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
_B64_PAYLOAD = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{136}(?![A-Za-z0-9_-])")


def luhn_ok(number: str) -> bool:
    """Luhn mod-10 check of a card number (ASCII digits only; anything else is not a card)."""
    if not number or not number.isascii() or not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, the rest ``*`` (PCI DSS display rule)."""
    if len(pan) <= 10:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def looks_like_pan(digits: str) -> bool:
    """13–19 ASCII digits that pass the Luhn check."""
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _pans(match: re.Match[str]) -> str:
    """Mask every card number in a run of digit groups; a number starts and ends on a group
    boundary (a 20-digit code is no card, but "4111 1111 1111 1111 12" holds one)."""
    run = match.group(0)
    groups, seps = re.split(r"[ -]", run), re.findall(r"[ -]", run)
    out, i = [], 0
    while i < len(groups):
        acc, end = "", None
        for j in range(i, len(groups)):
            acc += groups[j]
            if len(acc) > 19:
                break
            if looks_like_pan(acc):
                end = j
        if end is None:
            out.append(groups[i] + (seps[i] if i < len(seps) else ""))
            i += 1
            continue
        out.append(mask_pan("".join(groups[i : end + 1])) + (seps[end] if end < len(seps) else ""))
        i = end + 1
    return "".join(out)


def mask_secrets(text: str, *, barcode: bool = True) -> str:
    """``text`` with claim fragments, track data, card numbers and keys masked (see module doc).

    ``barcode``: ``text`` is a scanned code, so a whole text that is a valid EAN-13 stays (a
    product code that happens to pass the Luhn check too); pass False for free text such as a
    payment reference, where any 13–19 digit Luhn-valid number is masked.
    """
    if not isinstance(text, str):
        text = str(text)
    stripped = text.strip()
    if barcode and len(stripped) == 13 and gtin_check_ok(stripped):
        return text
    text = _FRAGMENT.sub("#" + MASK, text)
    text = _TRACK.sub(lambda m: mask_pan(m["pan"]) + m["sep"] + "***", text)
    text = _HEX_KEY.sub(MASK, text)
    text = _B64_PAYLOAD.sub(MASK, text)
    return _DIGIT_RUN.sub(_pans, text)


def shorten(text: str, limit: int = 64) -> str:
    """Masked ``text`` cut to ``limit`` characters for a log line or an event."""
    masked = mask_secrets(text)
    return masked if len(masked) <= limit else masked[:limit] + f"…(+{len(masked) - limit})"
