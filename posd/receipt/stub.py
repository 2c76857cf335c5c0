"""The printed DSG payment stub (``[dsg] print_stub``): the payment QR on paper, for tills
without a second screen facing the shopper (DESIGN §10).

A stub is not a receipt: it carries the payment's EIP-681 URI (public: token, chain, payout
address, amount) as a QR, the amount, the discount and the expiry — never a claim URL. It prints
when a payment opens, and again when an underpaid payment asks the rest under a new reference
(its URI changed). :class:`StubPrinter` learns of payments from the event bus
(``payment_updated``), so the payment code needs no printing code and no daemon object; it
prints on the receipt printer's driver (whose lock keeps it from interleaving with a receipt).
A stub that fails to print is reported (``print_failed``) and not retried: the cashier page
shows the same QR and the payment expires by itself.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from posd.receipt.layout import (
    Block,
    Cut,
    Feed,
    Qr,
    Rule,
    Text,
    _lr,
    _wrap,
    format_money,
    format_wei,
)

log = logging.getLogger("posd.receipt.stub")
URI_SCHEME = "ethereum:"
PRINT_STATES = ("awaiting", "underpaid")  # a QR to scan: a new payment or the rest of one
Publish = Callable[[str, dict[str, Any]], object]


@dataclass(frozen=True)
class StubInfo:
    """What the stub says besides the payment: whose till it is."""

    store_name: str
    till_name: str
    currency: str
    width: int = 42


def format_dsg_short(wei: int | str, places: int = 6) -> str:
    """DSG wei to ``places`` decimals, rounded down, trailing zeros dropped."""
    whole, frac = divmod(int(wei), 10**18)
    digits = f"{frac:018d}"[:places].rstrip("0")
    return f"{whole}.{digits} DSG" if digits else f"{whole} DSG"


def _time(unix: int | float) -> str:
    return datetime.fromtimestamp(unix).strftime("%H:%M:%S")


def stub_blocks(payment: dict[str, Any], info: StubInfo) -> list[Block]:
    """The stub as layout blocks (the receipt renderers' vocabulary), cut at the end.

    ValueError when the payment has no payable ``ethereum:`` URI (a stub never carries
    anything else: not a claim URL, not a URL with a fragment).
    """
    uri = payment.get("uri")
    if not isinstance(uri, str) or not uri.startswith(URI_SCHEME) or "#" in uri:
        raise ValueError(f"payment {payment.get('id', '?')} has no payment URI to print")
    w = info.width
    out: list[Block] = []

    def rows(lines: list[str], **style: Any) -> None:
        out.extend(Text(line, **style) for line in lines)

    title = "PAY WITH DSG" if payment.get("state") != "underpaid" else "DSG: PAY THE REST"
    rows(_wrap(title, w // 2), align="center", bold=True, double=True)
    rows(_wrap(info.store_name, w), align="center")
    out.append(Rule())
    if info.till_name:
        rows(_lr("Till", info.till_name, w))
    for key, label in (("total", "Sale total"), ("due", "Due")):
        if isinstance(payment.get(key), int):
            rows(_lr(label, format_money(payment[key], info.currency), w))
    discount = payment.get("discount")
    if isinstance(discount, int) and discount > 0:
        rows(_lr("DSG discount", "-" + format_money(discount, info.currency), w))
    rows(_lr("Amount", format_dsg_short(payment["amount_wei"]), w), bold=True)
    rows(_wrap(f"exactly {format_wei(payment['amount_wei'])}", w))
    out.append(Qr(uri))
    rows(_wrap("Scan with your wallet to pay", w), align="center", bold=True)
    if isinstance(payment.get("expires_at"), int | float):
        rows(_wrap(f"Valid until {_time(payment['expires_at'])}", w), align="center")
    rows(_wrap(f"Payment {payment.get('id', '')}", w), align="center")
    rows(_wrap("Not a receipt", w), align="center")
    out += [Feed(), Cut()]
    return out


class StubPrinter:
    """Prints a stub for each payment that opens (or asks the rest), from the event bus.

    ``render(blocks, width)`` returns the function a printer driver's ``print_job`` calls with
    the escpos printer (the receipt's ESC/POS renderer, native QR where the profile has it).
    """

    def __init__(
        self,
        subscribe: Callable[[], queue.Queue],
        unsubscribe: Callable[[queue.Queue], None],
        printer: Any,  # drivers.printers.escpos.PrinterDriver (or the simulator)
        info: StubInfo,
        publish: Publish,
        render: Callable[[list[Block], int], Callable[[Any], object]] | None = None,
    ) -> None:
        self.subscribe, self.unsubscribe = subscribe, unsubscribe
        self.printer, self.info, self.publish = printer, info, publish
        self.render = render or escpos_render
        self.printed: OrderedDict[tuple[str, str], bool] = OrderedDict()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sub: queue.Queue | None = None

    def start(self) -> None:
        self._sub = self.subscribe()  # subscribed before start returns: no payment missed
        self._thread = threading.Thread(target=self._run, name="payment-stub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sub is not None:
            self.unsubscribe(self._sub)
            self._sub = None

    def _run(self) -> None:
        assert self._sub is not None
        while not self._stop.is_set():
            try:
                event = self._sub.get(True, 0.5)
            except queue.Empty:
                continue
            if event is None or event.get("kind") != "payment_updated":
                continue
            data = event.get("data") or {}
            payment = data.get("payment", data)
            try:
                self.handle(payment)
            except Exception:  # noqa: BLE001 - a stub must never take the till down
                log.exception("payment stub failed")

    def handle(self, payment: dict[str, Any]) -> bool:
        """Print a stub for ``payment`` if it shows a QR not printed yet; True when printed."""
        if payment.get("state") not in PRINT_STATES:
            return False
        key = (str(payment.get("id", "")), str(payment.get("amount_wei", "")))
        if key in self.printed:
            return False
        self.printed[key] = True
        while len(self.printed) > 64:
            self.printed.popitem(last=False)
        return self.print_stub(payment)

    def print_stub(self, payment: dict[str, Any]) -> bool:
        from drivers.printers.common import PrinterError

        pid = str(payment.get("id", ""))
        try:
            blocks = stub_blocks(payment, self.info)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("payment %s: no stub: %s", pid, exc)
            return False
        try:
            self.printer.print_job(self.render(blocks, self.info.width), job=f"stub-{pid}")
        except PrinterError as exc:
            log.warning("payment %s: stub not printed: %s", pid, exc.message)
            self.publish("print_failed", {"stub": pid, "error": exc.message})
            return False
        self.publish("printed", {"stub": pid})
        return True


def escpos_render(blocks: list[Block], width: int) -> Callable[[Any], object]:
    """The receipt's ESC/POS renderer over ``blocks`` (python-escpos loads with the first stub)."""
    from posd.receipt.escpos import print_blocks

    return lambda printer: print_blocks(blocks, width, printer)


def for_config(config: Any, printer: Any, bus: Any) -> StubPrinter | None:
    """The stub printer the daemon runs when ``[dsg] print_stub`` is on and a printer exists."""
    if not config.dsg.print_stub or printer is None:
        return None
    info = StubInfo(
        store_name=config.store.name,
        till_name=config.till.name,
        currency=config.store.currency,
        width=config.receipt.width,
    )
    return StubPrinter(bus.subscribe, bus.unsubscribe, printer, info, bus.publish)
