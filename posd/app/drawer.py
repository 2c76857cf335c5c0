"""The cash drawer (DESIGN §12): opened off the sale's path; a failed kick is reported, never fatal.

A sale with a cash tender opens it once the sale is durable (``after_sale``, called by the
register); card-, voucher- or DSG-only sales never do. The cashier page's "open drawer" opens it
on demand (``open``), logged with who asked (the paired session's scope and a short id derived
from its hash, or "token" for the bearer token — never the token itself) and when. Kicks run on
one worker thread of their own: a drawer that hangs or refuses never delays a sale or a receipt.
A failed kick is logged, written to the event log (``drawer_failed``), published to the pages
and leaves the device's status at PROBLEM.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from drivers.printers.common import PrinterBusy, PrinterError
from drivers.printers.escpos import PrinterDriver
from posd.db.store import Store
from posd.errors import Conflict, Unavailable
from posd.till.sale import Completed

log = logging.getLogger("posd.app.drawer")
Publish = Callable[[str, dict[str, Any]], object]


class NoDrawer(Conflict):
    code = "no_drawer"


class DrawerFailed(Unavailable):
    code = "drawer_failed"


class DrawerBusy(Conflict):
    """The printer that drives the drawer is busy (a receipt printing): try again shortly."""

    code = "drawer_busy"


BUSY = "busy"  # the error a kick answers when it gave up waiting for the printer


class CashDrawer:
    def __init__(
        self, driver: Callable[[], PrinterDriver | None], store: Store, publish: Publish
    ) -> None:
        self._driver = driver
        self._store = store
        self._publish = publish
        self._pool: ThreadPoolExecutor | None = None

    def device(self) -> PrinterDriver | None:
        """The driver that kicks the drawer: a ``drawer`` device, or a printer with ``drawer``."""
        return self._driver()

    def after_sale(self, done: Completed) -> None:
        """Open for a sale with a cash tender; never raises (called on the sale's completion)."""
        if "cash" in done.tenders and self.device() is not None:
            self.kick("sale", {"seq": done.seq})

    def kick(self, reason: str, data: dict[str, Any], until: float | None = None) -> Future:
        """Queue one kick; the future tells whether it went out (it never raises).

        ``until`` (monotonic): give up, without kicking, once that moment has passed — a
        cashier who was told "busy" must not see the drawer spring open later.
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drawer")
        return self._pool.submit(self._kick, reason, data, until)

    def open(self, who: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """The cashier's "open drawer": kick now and say whether it went out.

        Waits for a printer busy with a receipt at most ``timeout`` (default: the device's
        ``timeout_s``), then 409 ``drawer_busy``; a kick that fails is 503 ``drawer_failed``.
        """
        device = self.device()
        if device is None:
            raise NoDrawer(
                "no cash drawer configured: a [[device]] of kind drawer, or a printer entry "
                'with drawer = "pin2" | "pin5"'
            )
        wait = device.timeout if timeout is None else timeout
        future = self.kick("manual", who, until=time.monotonic() + wait)
        try:  # the lock wait, then one connection (bounded by the device's own timeout)
            error = future.result(wait + 2 * device.timeout + 1)
        except FutureTimeout:  # still behind another kick: drop it, never open later
            future.cancel()
            error = BUSY
        if error == BUSY:
            raise DrawerBusy(
                f"the cash drawer's printer ({device.device.id}) is busy with a print job: "
                "try again when the receipt is out"
            )
        if error:
            raise DrawerFailed(f"the cash drawer did not open: {error}")
        return {"opened": True, **who}

    def _kick(self, reason: str, data: dict[str, Any], until: float | None = None) -> str:
        """Send the kick; '' when it went out, :data:`BUSY`, else the error (already reported)."""
        driver = self.device()
        at = time.time()
        record = {"reason": reason, **data, "at": round(at, 3)}
        try:
            if driver is None:
                raise PrinterError("no cash drawer configured")
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:  # queued behind another kick past its time
                raise PrinterBusy(f"{driver.device.id}: the drawer's worker was busy")
            driver.open_drawer(left)
        except PrinterBusy as exc:
            record["device"] = driver.device.id if driver is not None else ""
            record["error"] = exc.message
            record["busy"] = True
            log.warning("cash drawer not opened (%s): %s", reason, exc.message)
            self._report("drawer_failed", record)
            return BUSY
        except PrinterError as exc:
            record["device"] = driver.device.id if driver is not None else ""
            record["error"] = exc.message
            log.warning("cash drawer did not open (%s): %s", reason, exc.message)
            self._report("drawer_failed", record)
            return exc.message or "failed"
        except Exception as exc:  # noqa: BLE001 - a drawer must never take the till down
            log.exception("cash drawer kick failed (%s)", reason)
            record["error"] = f"{type(exc).__name__}: {exc}"
            self._report("drawer_failed", record)
            return record["error"]
        record["device"] = driver.device.id
        log.info("cash drawer opened (%s) %s", reason, {k: v for k, v in data.items()})
        self._report("drawer_opened", record)
        return ""

    def _report(self, kind: str, record: dict[str, Any]) -> None:
        try:
            self._store.log_event(kind, record)
        except Exception:  # noqa: BLE001 - a busy database must not hide the report
            log.exception("cannot log %s", kind)
        self._publish(kind, record)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
