"""The python-escpos connection for a ``[[device]]`` entry: its small printer classes plus the
timeouts they lack, and one clear line for every way a link can fail.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import stat
from pathlib import Path
from typing import Any

from escpos.capabilities import get_profile
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File, Network, Serial, Usb

from .common import DEFAULT_TIMEOUT_S, DRIVERS, PrinterError, usb_int


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
                usb_int(entry.get("vendor_id", entry.get("vendor")) or need("vendor_id")),
                usb_int(entry.get("product_id", entry.get("product")) or need("product_id")),
                timeout=int(timeout * 1000),  # pyusb counts milliseconds
                in_ep=usb_int(entry.get("in_ep", 0x82)),
                out_ep=usb_int(entry.get("out_ep", 0x01)),
                profile=profile_name,
            )
    except (TypeError, ValueError) as exc:
        raise PrinterError(f"bad {driver} printer entry: {exc}") from exc
    raise PrinterError(f"unknown printer driver {driver!r} (expected one of {', '.join(DRIVERS)})")


def explain(exc: BaseException, where: str, timeout: float) -> str:
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
