"""The receipt: data first, one layout, two renderers (ESC/POS via python-escpos, PNG preview).

Everything a shopper sees is decided once in ``layout()``; ``print_escpos`` and ``render_png``
only walk its blocks, so the paper and the preview can never disagree. The QR carries the claim
key (DESIGN §2, §5): nothing here logs ``claim_url``.
"""

from __future__ import annotations

import copy as _copy
import textwrap
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

import qrcode
from escpos.capabilities import get_profile
from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from PIL import Image, ImageDraw, ImageFont

# ISO 4217 minor digits and the symbol printed before the amount; unknown codes print "XXX 1.00".
CURRENCIES: dict[str, tuple[int, str]] = {
    "EUR": (2, "€"),
    "GBP": (2, "£"),
    "USD": (2, "$"),
    "CHF": (2, "CHF "),
    "JPY": (0, "¥"),
}
DSG_DECIMALS = 18
WIDTHS = (32, 42, 48)  # columns of font A on 58 mm, 80 mm (Epson 512 dots) and 80 mm (576 dots)
_PIXELS_FOR_WIDTH = {32: 384, 42: 512, 48: 576}
# Code pages tried first: one ESC t covers € £ ¥ and Western accents, and every common printer has
# one of them (escpos would otherwise pick by table order, e.g. Greek ISO-8859-7 for €).
PREFERRED_CODEPAGES = ("CP858", "CP1252")


# --------------------------------------------------------------------------------------------
# Data


@dataclass
class ReceiptLine:
    """One sold item. Prices are tax-inclusive minor units; ``qty`` may be a weight (Decimal)."""

    name: str
    qty: int | Decimal | float
    unit_price: int
    total: int
    tax_rate: Decimal | str | int


@dataclass
class Tender:
    kind: str  # "cash", "card", ...
    amount: int
    reference: str = ""  # e.g. masked card number or terminal reference; never a full PAN


@dataclass
class Receipt:
    """Everything printed on one receipt. ``claim_url`` is secret (it holds the claim key)."""

    store_name: str
    store_address: str
    tax_id: str
    currency: str
    till_name: str
    till_address: str
    seq: int
    time: int  # unix seconds, printed in local time
    lines: list[ReceiptLine]
    tenders: list[Tender]
    total: int
    change: int
    reward_estimate: str | int  # "12.34 DSG", or DSG wei (formatted here)
    claim_url: str
    copy: bool = False
    footer: str = ""
    width: int = 42
    refunded: bool = False

    def __repr__(self) -> str:  # keep the claim key out of logs and tracebacks
        return f"Receipt(seq={self.seq}, total={self.total}, copy={self.copy}, width={self.width})"


@dataclass(frozen=True)
class TaxGroup:
    """Tax for one rate: tax = gross × rate / (100 + rate), half-up in minor units per group."""

    letter: str
    rate: Decimal
    gross: int
    tax: int

    @property
    def net(self) -> int:
        return self.gross - self.tax


# Layout blocks: what both renderers understand.


@dataclass(frozen=True)
class Text:
    """One printed line; ``layout`` guarantees it fits (len × 2 when ``double``)."""

    text: str
    align: str = "left"  # left | center | right
    bold: bool = False
    double: bool = False  # double width and height


@dataclass(frozen=True)
class Rule:
    char: str = "-"


@dataclass(frozen=True)
class Qr:
    data: str = field(repr=False)  # the claim URL: secret


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    pass


Block = Text | Rule | Qr | Feed | Cut


# --------------------------------------------------------------------------------------------
# Formatting


def minor_digits(currency: str) -> int:
    return CURRENCIES.get(currency.upper(), (2, ""))[0]


def format_money(amount: int, currency: str) -> str:
    """``€12.34``, ``¥1234``, ``CHF 12.34``; unknown ISO codes as ``XXX 12.34``."""
    code = currency.upper()
    digits, symbol = CURRENCIES.get(code, (2, f"{code} "))
    sign = "-" if amount < 0 else ""
    value = abs(int(amount))
    if digits:
        scale = 10**digits
        number = f"{value // scale}.{value % scale:0{digits}d}"
    else:
        number = str(value)
    return f"{sign}{symbol}{number}"


def format_dsg(wei: int) -> str:
    """DSG wei as ``12.34 DSG`` (rounded down: an estimate must not promise more)."""
    value = (Decimal(wei) / Decimal(10**DSG_DECIMALS)).quantize(Decimal("0.01"), ROUND_DOWN)
    return f"{value} DSG"


def _decimal(value: Decimal | str | int | float) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _plain(number: Decimal) -> str:
    """``19``, ``7.5``, ``0.532`` — never ``1E+1``."""
    text = format(number.normalize(), "f")
    return text


def _format_qty(qty: int | Decimal | float) -> str:
    return str(qty) if isinstance(qty, int) else _plain(_decimal(qty))


def tax_breakdown(lines: Iterable[ReceiptLine]) -> list[TaxGroup]:
    """Groups by rate, highest rate first, lettered A, B, C… (the letters mark each line)."""
    gross: dict[Decimal, int] = {}
    for line in lines:
        rate = _decimal(line.tax_rate).normalize()
        gross[rate] = gross.get(rate, 0) + int(line.total)
    groups = []
    for i, rate in enumerate(sorted(gross, reverse=True)):
        amount = gross[rate]
        tax = (Decimal(amount) * rate / (100 + rate)).quantize(Decimal(1), ROUND_HALF_UP)
        groups.append(TaxGroup(chr(ord("A") + i), rate, amount, int(tax)))
    return groups


def _clean(text: str) -> str:
    """Control characters become spaces: a product name must not inject printer commands."""
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in str(text))


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    for paragraph in str(text).splitlines():
        out += textwrap.wrap(_clean(paragraph), max(width, 1), break_long_words=True) or []
    return out


def _lr(left: str, right: str, width: int) -> list[str]:
    """Left text and a right-aligned value on one line; the left side wraps, values never cut."""
    left, right = _clean(left), _clean(right)
    if len(right) >= width:
        return [*_wrap(left, width), right[-width:].rjust(width)]
    room = width - len(right) - 1
    parts = _wrap(left, room) or [""]
    return [*parts[:-1], parts[-1].ljust(room) + " " + right]


def _local_time(unix: int) -> str:
    return datetime.fromtimestamp(unix).strftime("%Y-%m-%d %H:%M:%S")


def _banner(text: str, width: int) -> Text:
    """Big when it fits in double width, else bold."""
    return Text(text, "center", True, len(text) * 2 <= width)


# --------------------------------------------------------------------------------------------
# Layout


def layout(receipt: Receipt) -> list[Block]:
    """The whole receipt as blocks, top to bottom, every line fitting ``receipt.width``."""
    w = receipt.width
    if not 24 <= w <= 64:
        raise ValueError(f"receipt width {w} is outside 24..64 columns")
    cur = receipt.currency
    money = lambda amount: format_money(amount, cur)  # noqa: E731
    blocks: list[Block] = []

    def rows(lines: list[str], **style: object) -> None:
        blocks.extend(Text(line, **style) for line in lines)  # type: ignore[arg-type]

    if receipt.copy:
        blocks.append(_banner("*** COPY ***", w))
    if receipt.refunded:
        blocks.append(_banner("REFUNDED", w))
    # Header
    rows(_wrap(receipt.store_name, w // 2), align="center", bold=True, double=True)
    rows(_wrap(receipt.store_address, w), align="center")
    if receipt.tax_id:
        rows(_wrap(f"Tax ID: {receipt.tax_id}", w), align="center")
    blocks.append(Rule())

    # Lines
    groups = tax_breakdown(receipt.lines)
    letter = {g.rate: g.letter for g in groups}
    for line in receipt.lines:
        mark = letter[_decimal(line.tax_rate).normalize()]
        rows(_lr(line.name, f"{money(line.total)} {mark}", w))
        if _decimal(line.qty) != 1:  # one piece needs no "1 x" line (qty may be Decimal("1"))
            rows(_wrap(f"  {_format_qty(line.qty)} x {money(line.unit_price)}", w))
    blocks.append(Rule())

    # Totals and payment
    total = _lr("TOTAL", money(receipt.total), w // 2)
    if len(total) == 1:
        blocks.append(Text(total[0], bold=True, double=True))
    else:
        rows(_lr("TOTAL", money(receipt.total), w), bold=True)
    for tender in receipt.tenders:
        rows(_lr(tender.kind.replace("_", " ").title(), money(tender.amount), w))
        if tender.reference:
            rows(_wrap(f"  Ref: {tender.reference}", w))
    if receipt.tenders:
        rows(_lr("Change", money(receipt.change), w))
    blocks.append(Rule())

    # Tax breakdown (prices include tax)
    blocks.extend(_tax_table(groups, cur, w))
    blocks.append(Rule())

    # Till, sequence, time
    rows(_lr(f"Till: {receipt.till_name}", f"No. {receipt.seq}", w))
    rows(_wrap(receipt.till_address, w))
    rows(_wrap(_local_time(receipt.time), w))
    blocks.append(Rule())

    # Reward and claim code
    if receipt.refunded:
        rows(_wrap("Refunded: no DSG to claim for this receipt.", w), align="center")
    else:
        reward = receipt.reward_estimate
        reward_text = format_dsg(reward) if isinstance(reward, int) else str(reward)
        rows(_lr("Estimated reward", reward_text, w), bold=True)
        if receipt.claim_url:
            blocks.append(Qr(receipt.claim_url))
            rows(_wrap("Scan to claim your DSG", w), align="center", bold=True)
    if receipt.copy:
        blocks.append(_banner("*** COPY ***", w))
    if receipt.footer:
        blocks.append(Feed())
        rows(_wrap(receipt.footer, w), align="center")
    blocks.append(Cut())
    return blocks


def _tax_table(groups: list[TaxGroup], currency: str, w: int) -> list[Block]:
    money = lambda amount: format_money(amount, currency)  # noqa: E731
    labels = [f"{g.letter} {_plain(g.rate)}%" for g in groups]
    cells = [[money(g.net), money(g.tax), money(g.gross)] for g in groups]
    lw = max([len("Tax"), *map(len, labels)])
    aw = max([len("Gross"), *(len(c) for row in cells for c in row)])
    if lw + 3 * (aw + 1) <= w:
        lw = w - 3 * (aw + 1)
        head = "Tax".ljust(lw) + "".join(" " + h.rjust(aw) for h in ("Net", "Tax", "Gross"))
        out: list[Block] = [Text(head)]
        for label, row in zip(labels, cells, strict=True):
            out.append(Text(label.ljust(lw) + "".join(" " + c.rjust(aw) for c in row)))
        return out
    out = []
    for label, (net, tax, gross) in zip(labels, cells, strict=True):
        for name, value in ((f"{label} gross", gross), ("  net", net), ("  tax", tax)):
            out.extend(Text(t) for t in _lr(name, value, w))
    return out


def width_for_profile(profile: str | None) -> int:
    """Columns of font A for a python-escpos profile name (42 when it does not say)."""
    try:
        columns = get_profile(profile).get_columns("a")
    except Exception:  # unknown profile or no font data: a safe 80 mm default
        return 42
    return columns if 24 <= columns <= 64 else 42


# --------------------------------------------------------------------------------------------
# ESC/POS renderer


def _qr_modules(data: str) -> int:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.modules_count


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
    native = printer.profile.supports("qrCode") if native_qr is None else native_qr
    pixels = _media_pixels(printer)
    if pixels is None:
        pixels = _PIXELS_FOR_WIDTH.get(receipt.width, receipt.width * 12)
        if not native:
            _with_media_width(printer, pixels)
    printer.hw("INIT")
    _prefer_codepages(printer)
    style: tuple[str, bool, bool] | None = None
    for block in layout(receipt):
        if isinstance(block, Rule):
            block = Text(block.char * receipt.width)
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
            modules = _qr_modules(block.data) + 2  # escpos draws a 1-module border
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


# --------------------------------------------------------------------------------------------
# PNG preview

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
# Monospace fonts with € £ and accents, regular and bold; Pillow's own font is the last resort
# (it has no accented letters).
_FONTS = (
    ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    ("LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf"),
    ("NotoSansMono-Regular.ttf", "NotoSansMono-Bold.ttf"),
    ("FreeMono.ttf", "FreeMonoBold.ttf"),
)
_FONT_PX = 20
_MARGIN = 16


@lru_cache(maxsize=8)
def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for names in _FONTS:
        for root in _FONT_DIRS:
            for path in sorted(Path(root).rglob(names[bold])) if Path(root).is_dir() else []:
                return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def render_png(receipt: Receipt) -> Image.Image:
    """A preview of the paper for the store owner (grayscale; save with ``.save(path, "PNG")``).

    Characters sit in fixed cells, so columns line up even with Pillow's non-monospace fallback.
    """
    w = receipt.width
    base = _font(_FONT_PX, False)
    cell = max(1, round(base.getlength("M")))
    line_h = round(_FONT_PX * 1.3)
    paper = w * cell + 2 * _MARGIN
    blocks = layout(receipt)

    qr_images: dict[int, Image.Image] = {}
    height = _MARGIN
    for i, block in enumerate(blocks):
        if isinstance(block, Text):
            height += line_h * (2 if block.double else 1)
        elif isinstance(block, Rule):
            height += line_h
        elif isinstance(block, Qr):
            modules = _qr_modules(block.data) + 8  # 4-module quiet zone each side
            box = max(2, int(w * cell * 0.7) // modules)
            qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box)
            qr.add_data(block.data)
            qr.make(fit=True)
            qr_images[i] = qr.make_image().get_image().convert("L")
            height += qr_images[i].height
        elif isinstance(block, Feed):
            height += line_h * block.lines
        elif isinstance(block, Cut):
            height += line_h
    height += _MARGIN

    image = Image.new("L", (paper, height), 255)
    draw = ImageDraw.Draw(image)
    y = _MARGIN
    for i, block in enumerate(blocks):
        if isinstance(block, Text):
            scale = 2 if block.double else 1
            font = _font(_FONT_PX * scale, block.bold)
            span = len(block.text) * scale
            col = {"center": (w - span) // 2, "right": w - span}.get(block.align, 0)
            for j, char in enumerate(block.text):
                x = _MARGIN + (col + j * scale) * cell
                draw.text((x, y), char, fill=0, font=font)
            y += line_h * scale
        elif isinstance(block, Rule):
            mid = y + line_h // 2
            draw.line((_MARGIN, mid, paper - _MARGIN, mid), fill=0, width=1)
            y += line_h
        elif isinstance(block, Qr):
            qr_img = qr_images[i]
            image.paste(qr_img, ((paper - qr_img.width) // 2, y))
            y += qr_img.height
        elif isinstance(block, Feed):
            y += line_h * block.lines
        elif isinstance(block, Cut):
            mid = y + line_h // 2
            for x in range(0, paper, 12):  # dashed tear line
                draw.line((x, mid, x + 6, mid), fill=160, width=1)
            y += line_h
    return image
