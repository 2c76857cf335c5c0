"""The receipt as data, and the one layout both renderers walk (ESC/POS and PNG).

Everything a shopper sees is decided once in ``layout()``; :mod:`posd.receipt.escpos` and
:mod:`posd.receipt.png` only walk its blocks, so the paper and the preview can never disagree.
The QR carries the claim key (DESIGN §2, §5): nothing here logs ``claim_url``.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

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
    member_discount: int = 0  # already taken off ``total``; printed at its undiscounted price


@dataclass
class Member:
    """The membership discount of a sale (DESIGN §11): printed with the member's tier."""

    address: str
    tier: int
    discount_percent: Decimal | int | float
    discount: int  # minor units, the sum of the lines' member discounts


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
    member: Member | None = None

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


def format_wei(wei: int | str) -> str:
    """DSG wei exactly, as ``12.340000000007424242 DSG`` (trailing zeros dropped): integer
    arithmetic, so no digit is rounded away (the reference digits matter)."""
    whole, frac = divmod(int(wei), 10**DSG_DECIMALS)
    text = f"{whole}.{frac:0{DSG_DECIMALS}d}".rstrip("0").rstrip(".")
    return f"{text} DSG"


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
        rows(_lr(line.name, f"{money(line.total + line.member_discount)} {mark}", w))
        if _decimal(line.qty) != 1:  # one piece needs no "1 x" line (qty may be Decimal("1"))
            rows(_wrap(f"  {_format_qty(line.qty)} x {money(line.unit_price)}", w))
    if receipt.member is not None:  # the member discount, visible, with the tier (§11)
        m = receipt.member
        label = f"Member tier {m.tier} ({_plain(_decimal(m.discount_percent))}% off)"
        rows(_lr(label, money(-m.discount), w))
        rows(_wrap(f"  Member {m.address[:6]}...{m.address[-4:]}", w))
    blocks.append(Rule())

    # Totals and payment
    total = _lr("TOTAL", money(receipt.total), w // 2)
    if len(total) == 1:
        blocks.append(Text(total[0], bold=True, double=True))
    else:
        rows(_lr("TOTAL", money(receipt.total), w), bold=True)
    for tender in receipt.tenders:
        rows(_lr(tender.kind.replace("_", " ").title(), money(tender.amount), w))
        if tender.reference and tender.kind == "dsg":  # DSG amount, transactions, overpaid (§10)
            for part in tender.reference.split("; "):
                rows(_wrap(f"  {part}", w))
        elif tender.reference:
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


def qr_modules(data: str) -> int:
    """Modules per side of the QR both renderers draw for ``data`` (error correction M)."""
    import qrcode  # with PIL: loaded by the renderers' first QR, not by the till's start

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.modules_count
