"""ESC/POS renderer: walks the receipt's layout blocks on a python-escpos printer.

Anything that talks python-escpos lives here (it is heavy to import): the renderer, the code-page
preference and the column count of a printer profile.
"""

from __future__ import annotations

import copy as _copy

from escpos.capabilities import get_profile
from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos

from posd.receipt.layout import Block, Cut, Feed, Qr, Receipt, Rule, Text, layout, qr_modules

_PIXELS_FOR_WIDTH = {32: 384, 42: 512, 48: 576}
# Code pages tried first: one ESC t covers € £ ¥ and Western accents, and every common printer has
# one of them (escpos would otherwise pick by table order, e.g. Greek ISO-8859-7 for €).
PREFERRED_CODEPAGES = ("CP858", "CP1252")


def width_for_profile(profile: str | None) -> int:
    """Columns of font A for a python-escpos profile name (42 when it does not say)."""
    try:
        columns = get_profile(profile).get_columns("a")
    except Exception:  # unknown profile or no font data: a safe 80 mm default
        return 42
    return columns if 24 <= columns <= 64 else 42


def _media_pixels(printer: Escpos) -> int | None:
    """Paper width in dots from the printer's profile, None when the profile does not know."""
    try:
        return int(printer.profile.profile_data["media"]["width"]["pixels"])
    except (KeyError, TypeError, ValueError):
        return None


def _with_media_width(printer: Escpos, pixels: int) -> None:
    """Give a profile without a paper width one (per printer, not the shared class), so escpos
    can bound and center the QR image instead of printing a warning on stdout."""
    profile = _copy.copy(printer.profile)
    data = dict(profile.profile_data)
    data["media"] = {**data.get("media", {}), "width": {"mm": "Unknown", "pixels": pixels}}
    profile.profile_data = data
    printer.profile = profile


def _prefer_codepages(printer: Escpos) -> None:
    """Reset escpos's code-page tracking (ESC @ just reset the printer) and try CP858/CP1252 first."""
    printer.magic.encoding = None
    encoder = printer.magic.encoder
    for name in PREFERRED_CODEPAGES:
        if name in encoder.codepages:
            encoder.used_encodings = {name} | set(encoder.used_encodings)
            return


def print_escpos(receipt: Receipt, printer: Escpos, native_qr: bool | None = None) -> None:
    """Draw ``receipt`` on a python-escpos printer (Network, Serial, Usb, File, Dummy).

    The QR is native (``GS ( k``) when the profile has ``qrCode`` (or ``native_qr`` forces it),
    else an image; error correction M either way. Text goes through escpos's magic encoding, so
    € £ é ü select a code page the profile has.
    """
    print_blocks(layout(receipt), receipt.width, printer, native_qr)


def print_blocks(
    blocks: list[Block], width: int, printer: Escpos, native_qr: bool | None = None
) -> None:
    """Draw layout blocks (a receipt, a Z report, a test page) ``width`` columns wide."""
    native = printer.profile.supports("qrCode") if native_qr is None else native_qr
    pixels = _media_pixels(printer)
    if pixels is None:
        pixels = _PIXELS_FOR_WIDTH.get(width, width * 12)
        if not native:
            _with_media_width(printer, pixels)
    printer.hw("INIT")
    _prefer_codepages(printer)
    style: tuple[str, bool, bool] | None = None
    for block in blocks:
        if isinstance(block, Rule):
            block = Text(block.char * width)
        if isinstance(block, Text):
            want = (block.align, block.bold, block.double)
            if want != style:
                align, bold, double = want
                printer.set(
                    align=align,
                    bold=bold,
                    double_width=double,
                    double_height=double,
                    normal_textsize=not double,
                )
                style = want
            printer.textln(block.text)
        elif isinstance(block, Qr):
            modules = qr_modules(block.data) + 2  # escpos draws a 1-module border
            size = max(3, min(6, int(pixels * 0.75) // modules))
            printer.set(align="center", bold=False, normal_textsize=True)
            style = None
            if native:
                printer.ln()  # quiet zone: the printer draws the symbol without one
                printer.qr(block.data, ec=QR_ECLEVEL_M, size=size, native=True)
                printer.ln()
            else:
                printer.qr(
                    block.data,
                    ec=QR_ECLEVEL_M,
                    size=size,
                    native=False,
                    image_arguments={"center": True},
                )
        elif isinstance(block, Feed):
            printer.ln(block.lines)
        elif isinstance(block, Cut):
            printer.cut()
