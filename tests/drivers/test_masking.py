"""The one masking function (drivers/masking.py, DESIGN §7) and the drivers' own use of it."""

from __future__ import annotations

import os
import threading

import pytest

from drivers.diag import probe_serial
from drivers.masking import mask_pan, mask_secrets, shorten

PAN = "4111111111111111"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (PAN, "411111******1111"),
        ("4111 1111 1111 1111", "411111******1111"),
        ("4111-1111-1111-1111 and 5500000000000004", "411111******1111 and 550000******0004"),
        ("4111 1111 1111 1111 12", "411111******1111 12"),  # a number among groups
        ("41111111111111112", "41111111111111112"),  # 17 digits, not Luhn-valid
        ("https://claim.example/c#AQID", "https://claim.example/c#<masked>"),
        ("%B4111111111111111^DOE/JOHN^2512101?", "411111******1111^***"),
        (";4111111111111111=25121010000?", "411111******1111=***"),
        ("0x" + "ab" * 32, "<masked>"),
        ("A" * 136, "<masked>"),
        ("4006381333931", "4006381333931"),  # an EAN-13 stays (even if it were Luhn-valid)
        ("SIM-CROISSANT", "SIM-CROISSANT"),
        ("", ""),
    ],
)
def test_mask_secrets(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_free_text_masks_luhn_valid_13_digit_numbers_too() -> None:
    # a 12-digit body whose EAN-13 check digit also makes the code Luhn-valid
    body = next(b for b in (f"40{n:010d}" for n in range(10**4)) if _both(b))
    ean_and_luhn = body + str(_check(body))
    assert mask_secrets(ean_and_luhn) == ean_and_luhn  # a scanned product code
    assert mask_secrets(ean_and_luhn, barcode=False) == mask_pan(ean_and_luhn)


def _check(body: str) -> int:
    from drivers.scanners.symbology import gtin_check_digit

    return gtin_check_digit(body)


def _both(body: str) -> bool:
    from drivers.masking import looks_like_pan

    return looks_like_pan(body + str(_check(body)))


def test_shorten_masks_then_cuts() -> None:
    assert shorten("x" * 100, 10) == "x" * 10 + "…(+90)"
    assert shorten(PAN + "x" * 100, 20).startswith("411111******1111")


def test_probe_sample_is_masked() -> None:
    """`posd diag --probe` shows the first bytes a port sent: never a swipe in clear."""
    master, slave = os.openpty()
    try:
        writer = threading.Timer(
            0.3, os.write, (master, b"%B" + PAN.encode() + b"^DOE/J^2512?\r\n")
        )
        writer.start()
        report = probe_serial(os.ttyname(slave), seconds=1.0, show_data=True)
        writer.join()
    finally:
        os.close(master)
        os.close(slave)
    sample = bytes.fromhex(report["sample_hex"].replace(" ", ""))
    assert report["bytes"] > 16 and b"411111******1111" in sample
    assert PAN.encode() not in sample and b"DOE/J" not in sample
