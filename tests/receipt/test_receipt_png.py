"""The PNG preview: plausible size, the same lines as the paper, a QR that matches the URL."""

from __future__ import annotations

import pytest
from helpers.escpos_parse import qr_matrix, read_qr_matrix
from PIL import Image
from test_receipt import make_receipt

from posd.receipt import png as receipt_mod
from posd.receipt.layout import Text, layout
from posd.receipt.png import render_png


@pytest.mark.parametrize("width", [32, 42, 48])
def test_png_size_and_qr(width: int) -> None:
    receipt = make_receipt(width, copy=True)
    image = render_png(receipt)
    assert isinstance(image, Image.Image)
    cell = image.width - 2 * receipt_mod._MARGIN
    assert cell % width == 0 and 8 <= cell // width <= 16  # fixed character cells
    lines = sum(2 if b.double else 1 for b in layout(receipt) if isinstance(b, Text))
    assert image.height > lines * 20
    expected = qr_matrix(receipt.claim_url)
    assert read_qr_matrix(image, len(expected)) == expected


def test_png_has_ink_where_text_is() -> None:
    image = render_png(make_receipt())
    top = image.crop((0, 0, image.width, 60))
    assert top.getextrema()[0] == 0  # the store name is drawn
    assert image.getpixel((0, 0)) == 255  # on white paper


def test_png_without_qr_for_refunds() -> None:
    image = render_png(make_receipt(refunded=True))
    expected = qr_matrix(make_receipt().claim_url)
    assert read_qr_matrix(image, len(expected)) is None
    assert image.height < render_png(make_receipt()).height


def test_png_falls_back_to_pillows_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receipt_mod, "_FONT_DIRS", ("/nonexistent",))
    receipt_mod._font.cache_clear()
    try:
        receipt = make_receipt()
        image = render_png(receipt)
        expected = qr_matrix(receipt.claim_url)
        assert read_qr_matrix(image, len(expected)) == expected
    finally:
        receipt_mod._font.cache_clear()
