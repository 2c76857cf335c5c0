"""ESC/POS receipt printers: a config entry becomes a python-escpos connection, with a timeout
on every I/O, a tri-state status and one job at a time.

drivers hands posd an ``escpos.escpos.Escpos`` to draw on (``print_job(render)``); it never
imports posd. Any failure surfaces as ``PrinterError`` so the caller keeps the job queued.
python-escpos itself loads with the first job or check (``link``, ``status``), so listing and
registering drivers stays light.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..base import DeviceEvent, DeviceInfo, Driver, EventSink, Status
from ..registry import register
from .common import (
    DEFAULT_STATUS_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    DRIVERS,
    PrinterBusy,
    PrinterError,
    drawer_kick,
    printer_id,
)

if TYPE_CHECKING:
    from escpos.escpos import Escpos

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def _no_events(event: object) -> None:
    """Default sink for drivers built outside a registry."""


@register
class PrinterDriver(Driver):
    """One ESC/POS printer from a ``[[device]]`` entry (in ``DeviceInfo.options``).

    ``status()`` is the last known state and never blocks (the API reads it); ``check()`` asks
    the printer; every ``print_job`` refreshes it. Jobs run one at a time per printer.
    """

    kind = "printer"
    name = "escpos"
    priority = 10

    def __init__(self, device: DeviceInfo, emit: EventSink | None = None) -> None:
        super().__init__(device, emit or _no_events)
        self.entry: dict[str, Any] = dict(device.options)
        self.timeout = float(self.entry.get("timeout_s", DEFAULT_TIMEOUT_S))
        self.status_timeout = float(self.entry.get("status_timeout_s", DEFAULT_STATUS_TIMEOUT_S))
        self._status = Status.UNKNOWN
        self._detail = "not checked yet"
        self._answers: bool | None = None  # does this printer answer DLE EOT? learned once
        self._lock = threading.Lock()  # one job or check at a time
        self._status_lock = threading.Lock()

    @classmethod
    def supported(cls, device: DeviceInfo) -> bool:
        return device.kind == cls.kind and str(device.options.get("driver", "")) in DRIVERS

    @classmethod
    def from_entry(
        cls, entry: dict[str, Any], emit: EventSink | None = None, profile: str | None = None
    ) -> PrinterDriver:
        """Build from a config entry directly (no registry), e.g. for ``posd diag``;
        ``profile`` (e.g. ``[receipt] profile``) applies when the entry names none."""
        entry = {**entry, "profile": profile} if profile and not entry.get("profile") else entry
        interface = {"escpos-network": "network", "escpos-serial": "serial"}.get(
            str(entry.get("driver")), "usb" if entry.get("driver") == "escpos-usb" else "file"
        )
        if entry.get("driver") == "simulated":
            interface = "simulated"
        path = (
            f"{entry.get('host')}:{entry.get('tcp_port', 9100)}"
            if entry.get("driver") == "escpos-network"
            else str(entry.get("port") or entry.get("path") or entry.get("dir") or "")
        )
        info = DeviceInfo(printer_id(entry), "printer", interface, path, options=dict(entry))
        return cls(info, emit)

    # -- what subclasses change -----------------------------------------------------------

    def connect(self) -> Escpos:
        """A fresh, unopened escpos connection for one job or check."""
        from .link import open_printer

        return open_printer(self.entry)

    def _finish(self, printer: Escpos, job: str) -> Path | None:
        """After a delivered job (the simulator keeps the bytes)."""
        return None

    # -- status ------------------------------------------------------------------------

    def status(self) -> Status:
        return self._status

    @property
    def detail(self) -> str:
        return self._detail

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["detail"] = self._detail
        info["profile"] = self.entry.get("profile") or "default"
        return info

    def _set(self, status: Status, detail: str) -> None:
        with self._status_lock:
            changed = (status, detail) != (self._status, self._detail)
            self._status, self._detail = status, detail
        if changed:
            if status is Status.PROBLEM:
                log.warning("printer problem: %s", detail)
            self.emit(DeviceEvent(self.device.id, "status", status, detail))

    def _ask(self, printer: Escpos) -> tuple[Status, str]:
        from .status import ask

        status, detail, self._answers = ask(printer, self.status_timeout)
        return status, detail

    def check(self) -> Status:
        """Open, ask, close: OK / PROBLEM (unreachable, offline, paper out) / UNKNOWN (can't ask)."""
        with self._lock:
            try:
                status, detail = self._session(self._ask)
            except PrinterError as exc:
                status, detail = Status.PROBLEM, exc.message
        self._set(status, detail)
        return status

    # -- jobs ---------------------------------------------------------------------------

    def print_job(self, render: Callable[[Escpos], object], job: str = "") -> Path | None:
        """Open, check paper, ``render(printer)``, confirm delivery, close.

        Raises ``PrinterError`` on any failure (unreachable, timeout, paper out, connection lost)
        so the caller keeps the job queued and retries. When the printer answers status, a
        second query after the job confirms it received everything (TCP alone cannot).
        Returns what ``_finish`` returns (the simulator: the file it wrote).
        """

        from .status import ask

        def run(printer: Escpos) -> tuple[Path | None, Status, str]:
            if self._answers is not False:
                status, detail = self._ask(printer)
                if status is Status.PROBLEM:
                    raise PrinterError(f"{self.device.id}: {detail}")
            render(printer)
            if self._answers:
                status, detail, answered = ask(printer, self.status_timeout)
                if not answered:
                    raise PrinterError(f"{self.device.id}: stopped answering during the job")
                if status is Status.PROBLEM:
                    raise PrinterError(f"{self.device.id}: {detail}")
            else:
                status, detail = Status.UNKNOWN, "sent; printer does not report status"
            return self._finish(printer, job), status, detail

        with self._lock:
            try:
                result, status, detail = self._session(run)
            except PrinterError as exc:
                failure: PrinterError | None = exc
            else:
                failure = None
        # status events go out after the lock is released: a listener may call check()
        if failure is not None:
            self._set(Status.PROBLEM, failure.message)
            raise failure
        self._set(status, detail)
        return result

    # -- cash drawer (ESC p) ------------------------------------------------------------------

    default_drawer: str | None = None  # a printer drives a drawer only when its entry says so

    @property
    def drawer(self) -> list[int] | None:
        """The ESC p command (``[27, 112, m, t1, t2]``) this device kicks, None without a drawer."""
        try:
            return drawer_kick(self.entry, self.default_drawer)
        except ValueError as exc:  # the config check names it first; never kick a guess
            raise PrinterError(f"{self.device.id}: {exc}") from None

    def open_drawer(self, wait: float | None = None) -> None:
        """Pulse the cash drawer on a connection of its own (python-escpos ``cashdraw``).

        Never goes through the print queue, so it does not disturb a receipt; it does wait for
        the printer's current job (one connection at a time): at most ``wait`` seconds, then
        ``PrinterBusy`` (the status stays as it is: a busy printer is not a broken one).
        Raises ``PrinterError`` (and the status turns PROBLEM) when the kick cannot be sent.
        """
        kick = self.drawer
        if kick is None:
            raise PrinterError(f"{self.device.id}: drives no cash drawer (set key 'drawer')")

        def run(printer: Escpos) -> None:
            printer.cashdraw(kick)
            self._kicked(printer)

        if not self._lock.acquire(timeout=-1 if wait is None else max(0.0, wait)):
            raise PrinterBusy(
                f"{self.device.id}: busy with a print job for more than {wait:g} s; "
                "try again when the receipt is out"
            )
        try:
            try:
                self._session(run)
            except PrinterError as exc:
                failure: PrinterError | None = exc
            else:
                failure = None
        finally:
            self._lock.release()
        if failure is not None:
            self._set(Status.PROBLEM, f"drawer: {failure.message}")
            raise failure
        self._drawer_ok()

    def _kicked(self, printer: Escpos) -> None:
        """After the kick was written (the simulator keeps the bytes)."""

    def _drawer_ok(self) -> None:
        """A printer's status is its paper and cover: a kick tells nothing about them."""

    def _session(self, work: Callable[[Escpos], _T]) -> _T:
        """Connect, open, ``work``, close; every failure becomes one clear ``PrinterError``."""
        printer = None
        try:
            printer = self.connect()
            printer.open()
            return work(printer)
        except PrinterError:
            raise
        except Exception as exc:
            from .link import explain

            raise PrinterError(explain(exc, self.device.id, self.timeout)) from exc
        finally:
            _close(printer)


@register
class DrawerDriver(PrinterDriver):
    """A ``drawer`` device: a kick box or a printer port of its own, opened with ESC p (pin 2
    unless ``drawer = "pin5"``). It prints nothing; its status is whether the last kick went out."""

    kind = "drawer"
    name = "escpos-drawer"
    default_drawer = "pin2"

    def __init__(self, device: DeviceInfo, emit: EventSink | None = None) -> None:
        super().__init__(device, emit)
        self._detail = "not kicked yet"

    def _drawer_ok(self) -> None:
        self._set(Status.OK, "last kick sent")


def _close(printer: Escpos | None) -> None:
    if printer is None:
        return
    try:
        printer.close()
    except Exception:  # closing a dead link must not hide the real error
        log.debug("printer close failed", exc_info=True)
