"""Pure parsing: barcodes and AIM ids, magstripe tracks, NFC UIDs, HID key events."""

from __future__ import annotations

import logging

import evdev
import pytest
from evdev import ecodes as e

from drivers.base import CardRead, DeviceEvent, DeviceInfo, Status
from drivers.cards.parse import (
    CardReadError,
    card_from_line,
    luhn_ok,
    mask_pan,
    parse_magstripe,
    parse_nfc_uid,
)
from drivers.cards.readers import HidCardReader
from drivers.scanners.symbology import (
    decode_scan,
    gtin_check_ok,
    guess_symbology,
    split_aim,
    upce_to_upca,
)
from drivers.transports.keymap import KEY_KPENTER, US_KEYMAP, KeyDecoder, decode_keys

PAN = "4111111111111111"
T1 = f"%B{PAN}^DOE/JOHN                  ^2512101000000000000000?"
T2 = f";{PAN}=25121010000000000000?"


# -- barcodes ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code,sym",
    [
        ("4006381333931", "ean13"),
        ("036000291452", "upca"),
        ("96385074", "ean8"),
        ("01234565", "ean8"),  # valid as both: EAN-8 wins
        ("04252614", "upce"),  # UPC-E whose EAN-8 check fails
        ("123456", "upce"),
        ("0123456", "upce"),
        ("10012345678902", "itf14"),
        ("ABC-123", "unknown"),
        ("12345", "unknown"),
        ("４００６３８１３３３９３１", "unknown"),  # full-width digits are not a GTIN
    ],
)
def test_guess_symbology(code, sym):
    assert guess_symbology(code) == sym


def test_check_digits_and_upce_expansion():
    assert gtin_check_ok("4006381333931") and not gtin_check_ok("4006381333932")
    assert upce_to_upca("01234565") == "012345000065"
    assert upce_to_upca("04252614") == "042100005264"


@pytest.mark.parametrize(
    "line,code,sym",
    [
        ("]E04006381333931", "4006381333931", "ean13"),
        ("]E0036000291452", "036000291452", "upca"),
        ("]E496385074", "96385074", "ean8"),
        ("]C1ABC123", "ABC123", "code128"),
        ("]C0XYZ", "XYZ", "code128"),
        ("]A0CODE39", "CODE39", "code39"),
        ("]Q1https://x", "https://x", "qr"),
        ("]d2010123", "010123", "datamatrix"),
        ("]I110012345678902", "10012345678902", "itf14"),
        ("]Z0odd", "odd", "unknown"),
    ],
)
def test_aim_prefixes(line, code, sym):
    assert split_aim(line) == (code, sym)
    assert decode_scan(line, aim_ids=True) == (code, sym)


def test_aim_prefix_ignored_unless_configured():
    assert decode_scan("]E04006381333931") == ("]E04006381333931", "unknown")
    assert decode_scan("4006381333931", aim_ids=True) == ("4006381333931", "ean13")


# -- magstripe ---------------------------------------------------------------------------------
def test_track1_and_track2():
    read = parse_magstripe(T1 + T2, device="r1")
    assert read == CardRead("magstripe", "r1", "411111******1111", "DOE/JOHN", "2512")
    assert parse_magstripe(T2).masked_pan == "411111******1111"
    assert parse_magstripe(T2).name == ""
    assert parse_magstripe(T1).expiry == "2512"


def test_mask_lengths():
    assert mask_pan("371449635398431") == "371449*****8431"  # 15-digit Amex
    assert luhn_ok("371449635398431") and luhn_ok(PAN) and not luhn_ok("4111111111111112")


@pytest.mark.parametrize(
    "data,why",
    [
        (";4111111111111112=2512101?", "Luhn"),
        ("%E?", "bad read"),
        (";E?", "bad read"),
        ("hello world", "no ISO 7813"),
        ("", "no ISO 7813"),
        (f";{PAN}=2513101?", "expiry month"),
        (f"%B{PAN}^A/B^2512?;5555555555554444=2512?", "different card numbers"),
        ("%B4111111111111111^NO END", "no ISO 7813"),
    ],
)
def test_magstripe_errors_are_clear_and_leak_nothing(data, why, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CardReadError) as info:
        parse_magstripe(data)
    assert why in str(info.value)
    err = info.value
    for text in (str(err), repr(err), repr(err.args), str(err.__context__), caplog.text):
        assert PAN not in text and "4111111111111112" not in text and "5555555555554444" not in text


def test_card_read_repr_has_no_pan():
    read = parse_magstripe(T1 + T2)
    assert PAN not in repr(read) and PAN not in str(read.__dict__)


@pytest.mark.parametrize(
    "data,uid",
    [
        ("04a1b2c3d4e5f6", "04A1B2C3D4E5F6"),
        ("04:A1:B2:C3", "04A1B2C3"),
        ("04-a1-b2-c3\n", "04A1B2C3"),
        ("0012345678", "00BC614E"),  # 10 digits: the decimal form of cheap readers
        ("abc", "0ABC"),
    ],
)
def test_nfc_uid(data, uid):
    assert parse_nfc_uid(data) == uid


def test_nfc_uid_formats_and_errors():
    assert parse_nfc_uid("0012345678", "hex") == "0012345678"
    assert parse_nfc_uid("12345678", "decimal") == "00BC614E"
    for bad in ("", "xyz!", "0" * 22, "０１"):
        with pytest.raises(CardReadError):
            parse_nfc_uid(bad)
    with pytest.raises(CardReadError):
        parse_nfc_uid("12ab", "decimal")


def test_card_from_line_routes_by_first_char():
    assert card_from_line(T2).kind == "magstripe"
    assert card_from_line("04A1B2C3", "d").uid == "04A1B2C3"
    with pytest.raises(CardReadError):
        card_from_line("04A1B2C3", mode="magstripe")


# -- HID keyboard wedge ------------------------------------------------------------------------
def keys(text: str, end: int = e.KEY_ENTER) -> list[evdev.InputEvent]:
    """Events a US-layout scanner sends for ``text`` (with SYN/MSC noise like real ones)."""
    rev: dict[str, tuple[int, bool]] = {}
    for code, (plain, shifted) in US_KEYMAP.items():
        if not 71 <= code <= 98 and code != 55:
            rev.setdefault(plain, (code, False))
            rev.setdefault(shifted, (code, True))
    out = []

    def ev(t: int, c: int, v: int) -> None:
        out.append(evdev.InputEvent(0, 0, t, c, v))

    for ch in text:
        code, shift = rev[ch]
        if shift:
            ev(e.EV_KEY, e.KEY_LEFTSHIFT, 1)
        ev(e.EV_MSC, e.MSC_SCAN, 458756)
        ev(e.EV_KEY, code, 1)
        ev(e.EV_SYN, e.SYN_REPORT, 0)
        ev(e.EV_KEY, code, 0)
        if shift:
            ev(e.EV_KEY, e.KEY_LEFTSHIFT, 0)
    ev(e.EV_KEY, end, 1)
    ev(e.EV_KEY, end, 0)
    return out


def test_keymap_matches_kernel_codes():
    assert US_KEYMAP[e.KEY_A] == ("a", "A")
    assert US_KEYMAP[e.KEY_1] == ("1", "!")
    assert US_KEYMAP[e.KEY_0] == ("0", ")")
    assert US_KEYMAP[e.KEY_SLASH] == ("/", "?")
    assert US_KEYMAP[e.KEY_SEMICOLON] == (";", ":")
    assert US_KEYMAP[e.KEY_KP5] == ("5", "5")
    assert KEY_KPENTER == e.KEY_KPENTER


def test_decode_codes_and_track_data():
    events = keys("4006381333931") + keys("Ab-1/x") + keys(T1 + T2, end=e.KEY_KPENTER)
    assert decode_keys(events) == ["4006381333931", "Ab-1/x", T1 + T2]


def test_decoder_caps_ctrl_alt_and_repeat():
    d = KeyDecoder()
    seq = [
        (e.KEY_CAPSLOCK, 1),
        (e.KEY_A, 1),
        (e.KEY_A, 2),  # autorepeat ignored
        (e.KEY_A, 0),
        (e.KEY_CAPSLOCK, 1),
        (e.KEY_LEFTCTRL, 1),
        (e.KEY_RIGHTBRACE, 1),  # Ctrl+] = GS
        (e.KEY_LEFTCTRL, 0),
        (e.KEY_LEFTALT, 1),
        (e.KEY_KP0, 1),
        (e.KEY_KP2, 1),
        (e.KEY_KP9, 1),
        (e.KEY_LEFTALT, 0),  # Alt+029 = GS
        (e.KEY_B, 1),
    ]
    for code, value in seq:
        assert d.feed(e.EV_KEY, code, value) is None
    assert d.feed(e.EV_KEY, e.KEY_ENTER, 1) == "A\x1d\x1db"
    assert d.feed(e.EV_KEY, e.KEY_ENTER, 1) is None  # empty line: nothing
    assert decode_keys(keys("12\t34"), end_keys={e.KEY_TAB, e.KEY_ENTER}) == ["12", "34"]


def test_hid_card_reader_line_hook_dedupes_split_tracks():
    got: list = []
    dev = DeviceInfo("hid:x", "card_reader", "hid", "/dev/input/event9", options={})
    reader = HidCardReader(dev, got.append)
    reader.handle_line(T1)
    reader.handle_line(T2)  # same card, second track on its own line
    reader.handle_line("garbage")
    assert [type(x) for x in got] == [CardRead, DeviceEvent]
    assert got[1].detail.startswith("card read rejected") and got[1].status is Status.UNKNOWN
    assert PAN not in repr(got)
