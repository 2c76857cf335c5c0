"""ESC/POS receipt printers: a config entry becomes a python-escpos connection, with a timeout
on every I/O, a tri-state status and one job at a time.

drivers hands posd an ``escpos.escpos.Escpos`` to draw on (``print_job(render)``); it never
imports posd. Any failure surfaces as ``PrinterError`` so the caller keeps the job queued.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from escpos.capabilities import get_profile
from escpos.constants import (
    RT_MASK_LOWPAPER,
    RT_MASK_NOPAPER,
    RT_MASK_ONLINE,
    RT_STATUS_ONLINE,
    RT_STATUS_PAPER,
)
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File, Network, Serial, Usb

from drivers.base import DeviceEvent, DeviceInfo, Driver, EventSink, Status
from drivers.registry import register

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DRIVERS = ("escpos-network", "escpos-usb", "escpos-serial", "escpos-file")
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_STATUS_TIMEOUT_S = 1.0
# A real status byte (DLE EOT n) always has bit 1 and bit 4 set and bits 0 and 7 clear.
_STATUS_FIXED_MASK, _STATUS_FIXED_BITS = 0x93, 0x12


class PrinterError(Exception):
    """A print job or status check failed; the message says why, for logs and the cashier."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------------------------
# Small printer classes: python-escpos's, plus the timeouts they lack


class TimedNetwork(Network):
    """escpos ``Network`` whose status read may wait less than a print write."""

    def read_status(self, query: bytes, timeout: float) -> bytes | None:
        sock: socket.socket = self.device  # type: ignore[assignment]
        previous = sock.gettimeout()
        sock.settimeout(timeout)
        try:
            self._raw(query)
            reply = sock.recv(16)
        except TimeoutError:
            return None  # connected, but it does not answer status queries
        finally:
            sock.settimeout(previous)
        if not reply:
            raise ConnectionError("the printer closed the connection")
        return reply


class TimedSerial(Serial):
    """escpos ``Serial`` sets only a read timeout; a printer holding DSR low would block
    ``write()`` forever, so writes get the same timeout."""

    def open(self, raise_not_found: bool = True) -> None:
        super().open(raise_not_found)
        if self._device:
            self._device.write_timeout = self.timeout  # type: ignore[union-attr]

    def read_status(self, query: bytes, timeout: float) -> bytes | None:
        port = self.device
        previous = port.timeout  # type: ignore[union-attr]
        port.timeout = timeout  # type: ignore[union-attr]
        try:
            self._raw(query)
            return port.read(1) or None  # type: ignore[union-attr]
        finally:
            port.timeout = previous  # type: ignore[union-attr]


class TimedFile(File):
    """escpos ``File`` for a device node (``/dev/usb/lp0``) or a plain file. Writes are
    non-blocking with ``select()``, so a stalled printer times out instead of hanging the job."""

    def __init__(self, devfile: str = "", timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any):
        super().__init__(devfile, auto_flush=True, **kwargs)
        self.timeout = timeout

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC
            path = Path(self.devfile)
            # A plain output file may be created; a missing /dev node is an unplugged printer.
            if not path.is_absolute() or path.parts[1] != "dev":
                if not path.exists() or stat.S_ISREG(path.stat().st_mode):
                    flags |= os.O_CREAT | os.O_TRUNC
            self.device = os.fdopen(os.open(self.devfile, flags, 0o600), "wb", buffering=0)
        except OSError as exc:
            self.device = None
            if raise_not_found:
                raise DeviceNotFoundError(f"Could not open {self.devfile}: {exc}") from exc

    def _raw(self, msg: bytes) -> None:
        fd = self.device.fileno()  # type: ignore[union-attr]
        view = memoryview(msg)
        while view:
            _, ready, _ = select.select([], [fd], [], self.timeout)
            if not ready:
                raise TimeoutError(f"{self.devfile}: no progress for {self.timeout:g} s")
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue

    def close(self) -> None:
        if self._device:
            try:
                self._device.close()  # type: ignore[union-attr]
            finally:
                self._device = False


def _int(value: Any) -> int:
    """USB ids and endpoints: ints as they are, strings as hex like lsusb prints them."""
    if isinstance(value, int):
        return value
    return int(str(value).strip().lower().removeprefix("0x"), 16)


def printer_id(entry: dict[str, Any]) -> str:
    """A stable id from what names the printer (host:port, USB ids, port or path)."""
    driver = str(entry.get("driver", ""))
    if driver == "escpos-network":
        return f"printer:{entry.get('host', '')}:{int(entry.get('tcp_port', 9100))}"
    if driver == "escpos-usb" and not entry.get("path"):
        vendor = _int(entry.get("vendor_id", entry.get("vendor", 0)))
        product = _int(entry.get("product_id", entry.get("product", 0)))
        return f"printer:usb:{vendor:04x}:{product:04x}"
    where = entry.get("port") or entry.get("path") or entry.get("dir") or driver
    return f"printer:{where}"


def open_printer(entry: dict[str, Any], profile: str | None = None) -> Escpos:
    """The python-escpos object for a ``[[device]]`` entry; no I/O yet (escpos opens on first
    write, ``PrinterDriver.print_job`` opens explicitly). Bad entries raise ``PrinterError``.

    Keys: ``driver`` (escpos-network: ``host``, ``tcp_port`` = 9100; escpos-usb: ``vendor_id``,
    ``product_id``, optional ``in_ep``/``out_ep``, or ``path`` = /dev/usb/lpN to use the kernel
    driver; escpos-serial: ``port``, ``baudrate`` = 9600, ``dsrdtr`` = true, ``xonxoff`` = false;
    escpos-file: ``path``), ``profile`` (python-escpos capability profile), ``timeout_s``.
    """
    driver = str(entry.get("driver", ""))
    profile_name = entry.get("profile") or profile or "default"
    try:
        get_profile(profile_name)
    except KeyError:
        raise PrinterError(f"unknown printer profile {profile_name!r}") from None
    timeout = float(entry.get("timeout_s", DEFAULT_TIMEOUT_S))
    if timeout <= 0:
        raise PrinterError("timeout_s must be positive: every printer I/O has a timeout")

    def need(key: str) -> Any:
        if not entry.get(key):
            raise PrinterError(f"{driver} printer needs {key!r}")
        return entry[key]

    try:
        if driver == "escpos-network":
            port = int(entry.get("tcp_port", 9100))
            return TimedNetwork(need("host"), port=port, timeout=timeout, profile=profile_name)
        if driver == "escpos-serial":
            return TimedSerial(
                devfile=need("port"),
                baudrate=int(entry.get("baudrate", 9600)),
                timeout=timeout,
                dsrdtr=bool(entry.get("dsrdtr", True)),
                xonxoff=bool(entry.get("xonxoff", False)),
                profile=profile_name,
            )
        if driver == "escpos-file" or (driver == "escpos-usb" and entry.get("path")):
            return TimedFile(need("path"), timeout=timeout, profile=profile_name)
        if driver == "escpos-usb":
            if not Usb.is_usable():
                raise PrinterError(
                    "escpos-usb with vendor/product ids needs pyusb and libusb; "
                    "or set path = '/dev/usb/lp0' to use the kernel's usblp driver"
                )
            return Usb(
                _int(entry.get("vendor_id", entry.get("vendor")) or need("vendor_id")),
                _int(entry.get("product_id", entry.get("product")) or need("product_id")),
                timeout=int(timeout * 1000),  # pyusb counts milliseconds
                in_ep=_int(entry.get("in_ep", 0x82)),
                out_ep=_int(entry.get("out_ep", 0x01)),
                profile=profile_name,
            )
    except (TypeError, ValueError) as exc:
        raise PrinterError(f"bad {driver} printer entry: {exc}") from exc
    raise PrinterError(f"unknown printer driver {driver!r} (expected one of {', '.join(DRIVERS)})")


# --------------------------------------------------------------------------------------------
# Status: DLE EOT, read without guessing


def _read_status(printer: Escpos, query: bytes, timeout: float) -> bytes | None:
    """The printer's reply to a real-time status query, or None when this link cannot ask."""
    reader = getattr(printer, "read_status", None)
    if reader is not None:
        return reader(query, timeout)
    try:
        return printer.query_status(query) or None
    except NotImplementedError:
        return None


def query_status(printer: Escpos, timeout: float = DEFAULT_STATUS_TIMEOUT_S) -> tuple[Status, str]:
    """Ask an open printer: DLE EOT 1 (online) then DLE EOT 4 (paper roll).

    escpos's ``is_online()``/``paper_status()`` read "no answer" as offline / plenty of paper;
    here no answer (or a byte that is not a status byte) is UNKNOWN, never a guess.
    """
    return _query(printer, timeout)[:2]


def _query(printer: Escpos, timeout: float) -> tuple[Status, str, bool]:
    """``query_status`` plus whether the printer answered at all (a delivery receipt)."""
    online = _read_status(printer, RT_STATUS_ONLINE, timeout)
    if online is None:
        return Status.UNKNOWN, "printer does not answer status queries", False
    if online[0] & _STATUS_FIXED_MASK != _STATUS_FIXED_BITS:
        return Status.UNKNOWN, f"unexpected status reply {online[:1].hex()}", False
    return (*_interpret(online[0], _read_status(printer, RT_STATUS_PAPER, timeout)), True)


def _interpret(online: int, paper: bytes | None) -> tuple[Status, str]:
    if paper is None or paper[0] & _STATUS_FIXED_MASK != _STATUS_FIXED_BITS:
        if online & RT_MASK_ONLINE:
            return Status.PROBLEM, "printer offline (cover open, paper out or error)"
        return Status.UNKNOWN, "printer does not report paper status"
    if paper[0] & RT_MASK_NOPAPER == RT_MASK_NOPAPER:
        return Status.PROBLEM, "paper out"
    if online & RT_MASK_ONLINE:
        return Status.PROBLEM, "printer offline (cover open or error)"
    if paper[0] & RT_MASK_LOWPAPER == RT_MASK_LOWPAPER:
        return Status.OK, "paper low"
    return Status.OK, ""


def _explain(exc: BaseException, where: str, timeout: float) -> str:
    """One clear line for the cashier page and the log."""
    cause: BaseException = exc
    if isinstance(exc, DeviceNotFoundError):  # escpos wraps the OSError that says why
        cause = exc.__cause__ or exc.__context__ or exc
    if isinstance(cause, socket.gaierror):
        return f"{where}: host not found ({cause.strerror})"
    if isinstance(cause, ConnectionRefusedError):
        return f"{where}: connection refused"
    if isinstance(cause, TimeoutError) or "timeout" in type(cause).__name__.lower():
        return f"{where}: no answer within {timeout:g} s"
    if isinstance(cause, BrokenPipeError | ConnectionResetError | ConnectionAbortedError):
        return f"{where}: connection lost during printing"
    if isinstance(cause, ConnectionError):
        return f"{where}: {cause}"
    if isinstance(cause, OSError) and cause.errno in (
        errno.ENOENT,
        errno.ENODEV,
        errno.EHOSTUNREACH,
    ):
        return f"{where}: not found ({os.strerror(cause.errno)})"
    text = str(cause).strip().splitlines()
    return f"{where}: {type(cause).__name__}: {text[0] if text else ''}".rstrip(": ")


# --------------------------------------------------------------------------------------------
# The driver


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
        return device.kind == "printer" and str(device.options.get("driver", "")) in DRIVERS

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
        status, detail, self._answers = _query(printer, self.status_timeout)
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

        def run(printer: Escpos) -> tuple[Path | None, Status, str]:
            if self._answers is not False:
                status, detail = self._ask(printer)
                if status is Status.PROBLEM:
                    raise PrinterError(f"{self.device.id}: {detail}")
            render(printer)
            if self._answers:
                status, detail, answered = _query(printer, self.status_timeout)
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
            raise PrinterError(_explain(exc, self.device.id, self.timeout)) from exc
        finally:
            _close(printer)


def _close(printer: Escpos | None) -> None:
    if printer is None:
        return
    try:
        printer.close()
    except Exception:  # closing a dead link must not hide the real error
        log.debug("printer close failed", exc_info=True)
