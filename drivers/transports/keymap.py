"""Keyboard-wedge key events -> typed text: the US key map and a decoder with no evdev import.

A pure module, so the mapping is tested with synthetic events, no hardware. US layout: configure
the scanner for it (the usual factory default).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .lines import MAX_LINE

# Linux input-event-codes.h; fixed kernel ABI, so the decoder needs no evdev import.
EV_KEY = 1
KEY_TAB, KEY_ENTER, KEY_KPENTER = 15, 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK = 42, 54, 58
KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT = 29, 97, 56, 100
SHIFTS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
CTRLS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL})
ALTS = frozenset({KEY_LEFTALT, KEY_RIGHTALT})


def _rows() -> dict[int, tuple[str, str]]:
    table: dict[int, tuple[str, str]] = {}
    for first, plain, shifted in (
        (2, "1234567890-=", "!@#$%^&*()_+"),
        (16, "qwertyuiop[]", "QWERTYUIOP{}"),
        (30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
        (44, "zxcvbnm,./", "ZXCVBNM<>?"),
    ):
        for i, (p, s) in enumerate(zip(plain, shifted, strict=True)):
            table[first + i] = (p, s)
    table[43] = ("\\", "|")
    table[57] = (" ", " ")
    table[KEY_TAB] = ("\t", "\t")
    keypad = {71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+"}
    keypad |= {79: "1", 80: "2", 81: "3", 82: "0", 83: ".", 55: "*", 98: "/"}
    table.update({code: (ch, ch) for code, ch in keypad.items()})
    return table


US_KEYMAP: dict[int, tuple[str, str]] = _rows()
KEYPAD_DIGITS: dict[int, str] = {
    c: ch for c, (ch, _) in US_KEYMAP.items() if 71 <= c <= 82 and ch.isdigit()
}  # keypad 0-9 only: "-" and "+" sit among them and are no part of an Alt code


class KeyDecoder:
    """Rebuild typed lines from EV_KEY events (US layout, Shift, Caps Lock, Ctrl, Alt+keypad).

    ``feed`` returns a completed line when an end key (ENTER, keypad ENTER, optionally TAB)
    goes down. Ctrl+letter gives control characters and Alt+keypad digits the character with
    that code, which is how scanners type GS1's GS separator (Ctrl+] or Alt+029).
    """

    def __init__(self, end_keys: Iterable[int] = (KEY_ENTER, KEY_KPENTER)) -> None:
        self.end_keys = frozenset(end_keys)
        self._held: set[int] = set()
        self._caps = False
        self._alt_code = ""
        self._chars: list[str] = []

    def feed(self, type_: int, code: int, value: int) -> str | None:
        """Consume one input event; the finished line, or None."""
        if type_ != EV_KEY:
            return None
        if value == 0:  # release
            self._held.discard(code)
            if code in ALTS and self._alt_code:
                self._put(chr(int(self._alt_code) % 256))
                self._alt_code = ""
            return None
        if value != 1:  # autorepeat: scanners do not hold keys
            return None
        if code in SHIFTS or code in CTRLS or code in ALTS:
            self._held.add(code)
            return None
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if code in self.end_keys:
            line, self._chars = "".join(self._chars), []
            return line or None
        if self._held & ALTS and code in KEYPAD_DIGITS:
            if len(self._alt_code) < 4:  # Alt+0029 at most; more digits are noise, not a code
                self._alt_code += KEYPAD_DIGITS[code]
            return None
        pair = US_KEYMAP.get(code)
        if pair is None:
            return None
        shift = bool(self._held & SHIFTS)
        ch = pair[1] if shift else pair[0]
        if self._caps and ch.isalpha():
            ch = ch.swapcase()
        if self._held & CTRLS:
            up = pair[0].upper()
            if "A" <= up <= "Z" or up in "[\\]":
                ch = chr(ord(up) - 64)
        self._put(ch)
        return None

    def _put(self, ch: str) -> None:
        if len(self._chars) < MAX_LINE:
            self._chars.append(ch)

    def reset(self) -> None:
        """Forget a half-typed line and held modifiers (after a reconnect)."""
        self._held.clear()
        self._alt_code = ""
        self._chars = []


def decode_keys(
    events: Iterable[Any], end_keys: Iterable[int] = (KEY_ENTER, KEY_KPENTER)
) -> list[str]:
    """Lines typed by a sequence of evdev ``InputEvent`` (anything with type/code/value)."""
    decoder = KeyDecoder(end_keys)
    out = []
    for ev in events:
        line = decoder.feed(ev.type, ev.code, ev.value)
        if line is not None:
            out.append(line)
    return out
