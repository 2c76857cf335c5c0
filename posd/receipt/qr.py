"""The claim QR alone, for a POS that prints its own receipt (DESIGN §12, ``"print": false``).

The same symbol the receipt carries (error correction M, as :mod:`posd.receipt.png` and
:mod:`posd.receipt.escpos` draw it): a PNG with its quiet zone, and ESC/POS bytes that draw it
natively (``GS ( k``, centred, with blank lines around it as the receipt has). The data is the
claim URL — a secret for the shopper: nothing here logs it.
"""

from __future__ import annotations

import base64
import io

from posd.receipt.layout import qr_modules

PNG_BOX = 8  # pixels per module: ~300 px for a typical claim URL


def qr_png(data: str, box: int = PNG_BOX) -> bytes:
    """``data`` as a QR code in a black-on-white PNG with a 4-module quiet zone."""
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().get_image().convert("L").save(out, format="PNG")
    return out.getvalue()


def qr_escpos(data: str, profile: str | None = None, dots: int = 512) -> bytes:
    """ESC/POS that prints ``data`` as a native QR (``GS ( k``), sized like the receipt's."""
    from escpos.constants import QR_ECLEVEL_M
    from escpos.printer import Dummy

    printer = Dummy(profile=profile) if profile else Dummy()
    size = max(3, min(6, int(dots * 0.75) // (qr_modules(data) + 2)))
    printer.set(align="center", bold=False, normal_textsize=True)
    printer.ln()
    printer.qr(data, ec=QR_ECLEVEL_M, size=size, native=True)
    printer.ln()
    printer.set(align="left")
    return printer.output


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
