"""Printer status by DLE EOT, read without guessing: OK / PROBLEM / UNKNOWN.

escpos's ``is_online()``/``paper_status()`` read "no answer" as offline / plenty of paper; here
no answer (or a byte that is not a status byte) is UNKNOWN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from escpos.constants import (
    RT_MASK_LOWPAPER,
    RT_MASK_NOPAPER,
    RT_MASK_ONLINE,
    RT_STATUS_ONLINE,
    RT_STATUS_PAPER,
)

from ..base import Status

if TYPE_CHECKING:
    from escpos.escpos import Escpos

# A real status byte (DLE EOT n) always has bit 1 and bit 4 set and bits 0 and 7 clear.
_STATUS_FIXED_MASK, _STATUS_FIXED_BITS = 0x93, 0x12


def _read_status(printer: Escpos, query: bytes, timeout: float) -> bytes | None:
    """The printer's reply to a real-time status query, or None when this link cannot ask."""
    reader = getattr(printer, "read_status", None)
    if reader is not None:
        return reader(query, timeout)
    try:
        return printer.query_status(query) or None
    except NotImplementedError:
        return None


def ask(printer: Escpos, timeout: float) -> tuple[Status, str, bool]:
    """Ask an open printer DLE EOT 1 (online) then DLE EOT 4 (paper roll).

    Returns the status, why, and whether the printer answered at all (a delivery receipt).
    """
    online = _read_status(printer, RT_STATUS_ONLINE, timeout)
    if online is None:
        return Status.UNKNOWN, "printer does not answer status queries", False
    if online[0] & _STATUS_FIXED_MASK != _STATUS_FIXED_BITS:
        return Status.UNKNOWN, f"unexpected status reply {online[:1].hex()}", False
    return (*_interpret(online[0], _read_status(printer, RT_STATUS_PAPER, timeout)), True)


def _interpret(online: int, paper: bytes | None) -> tuple[Status, str]:
    if paper is None or paper[0] & _STATUS_FIXED_MASK != _STATUS_FIXED_BITS:
        if online & RT_MASK_ONLINE:
            return Status.PROBLEM, "printer offline (cover open, paper out or error)"
        return Status.UNKNOWN, "printer does not report paper status"
    if paper[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
        return Status.PROBLEM, "paper out"
    if online & RT_MASK_ONLINE:
        return Status.PROBLEM, "printer offline (cover open or error)"
    if paper[0] & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER:
        return Status.OK, "paper low"
    return Status.OK, ""
