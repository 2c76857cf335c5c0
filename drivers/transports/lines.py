"""Line-oriented devices: split a byte stream into lines, and keep a flaky connection alive.

Scanners and card readers both "type" one line per read, over serial or as a keyboard. So one
base driver does the hard parts once (reconnect loop, status, error containment); a transport
(``serial_port``, ``hid``) opens the device and a device class (``scanners``, ``cards``) only
implements ``handle_line``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import serial.threaded

from ..base import DeviceEvent, DeviceInfo, Driver, EventSink, Status
from ..entries import terminator_bytes
from ..masking import shorten

log = logging.getLogger(__name__)

MAX_LINE = 4096  # a stuck reader without terminators must not grow memory forever


class LineSplitter(serial.threaded.Protocol):
    """A pyserial Protocol cutting bytes into text lines on any terminator byte.

    Unlike ``serial.threaded.LineReader`` it ends a line on CR *or* LF (a CRLF pair gives one
    line: empty lines are dropped), so a scanner's suffix setting never silently stops scans,
    and a line that is not UTF-8 is skipped with a count instead of being mangled.
    Never logs line content: card readers send track data through here.
    """

    def __init__(
        self,
        on_line: Callable[[str], None],
        terminators: bytes = b"\r\n",
        on_lost: Callable[[BaseException | None], None] | None = None,
        on_bad: Callable[[str], None] | None = None,
    ) -> None:
        self._on_line = on_line
        self._on_lost = on_lost
        self._on_bad = on_bad
        self._split = re.compile(b"[" + re.escape(terminators) + b"]")
        self._buf = bytearray()
        self._discarding = False

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._split.search(data):
            *lines, rest = self._split.split(self._buf)
            self._buf = bytearray(rest)
            for raw in lines:
                if self._discarding:  # tail of an overlong line
                    self._discarding = False
                elif len(raw) > MAX_LINE:
                    self._bad(f"line longer than {MAX_LINE} bytes dropped")
                elif raw:
                    self._deliver(raw)
        if len(self._buf) > MAX_LINE:
            self._buf.clear()
            if not self._discarding:
                self._discarding = True
                self._bad(f"line longer than {MAX_LINE} bytes dropped")

    def _deliver(self, raw: bytes) -> None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._bad(f"undecodable line of {len(raw)} bytes skipped")
            return
        text = text.strip(" \0")
        if text:
            self._on_line(text)

    def _bad(self, why: str) -> None:
        if self._on_bad is not None:
            self._on_bad(why)

    def connection_lost(self, exc: BaseException | None) -> None:
        # Do not re-raise like the pyserial base does: the driver's supervisor reconnects.
        self._buf.clear()
        self._discarding = False
        if self._on_lost is not None:
            self._on_lost(exc)


class LineDriver(Driver):
    """A driver that reads lines and survives its device going away.

    Subclasses provide a transport (``_serve``: open, report OK, pump lines until the device is
    lost or ``_interrupt`` is called) and a ``handle_line``. The supervisor thread retries every
    ``retry_interval`` seconds until ``stop()``, with status PROBLEM meanwhile.
    A transport sets ``interface``; a device class then only names its ``kind``.
    """

    interface = ""  # DeviceInfo.interface this transport serves ("serial", "hid")
    retry_interval = 1.0
    sensitive = False  # True: never log exception text from handle_line (card data)

    def __init__(self, device: DeviceInfo, emit: EventSink) -> None:
        super().__init__(device, emit)
        opts = device.options
        self.terminators = terminator_bytes(opts.get("terminator"))
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()
        self._status = Status.UNKNOWN
        self._detail = ""
        self.lines = 0
        self.skipped = 0

    @classmethod
    def supported(cls, device: DeviceInfo) -> bool:
        """Devices of this class's ``kind`` on this transport's ``interface``."""
        return bool(cls.kind and cls.interface) and (
            device.kind == cls.kind and device.interface == cls.interface
        )

    # -- hooks -------------------------------------------------------------------------------
    def handle_line(self, line: str) -> None:
        """Turn one complete line into events."""
        raise NotImplementedError

    def _serve(self) -> None:
        """Open the device and pump lines until it is lost or interrupted (blocking)."""
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Make a running ``_serve`` return soon. Called from another thread."""

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._supervise, name=f"{self.name}:{self.device.id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        try:
            self._interrupt()
        except Exception:  # stop() must not raise
            log.exception("%s: interrupt failed", self.device.id)
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=3.0)
            if thread.is_alive():
                log.warning("%s: reader did not stop within 3 s", self.device.id)
        self._set_status(Status.UNKNOWN, "stopped")

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            try:
                self._serve()
                if not self._stopping.is_set():
                    self._set_status(Status.PROBLEM, "device lost; reconnecting")
            except Exception as e:  # any failure of the transport: report, wait, retry
                if not self._stopping.is_set():
                    self._set_status(Status.PROBLEM, f"{type(e).__name__}: {e}")
            self._stopping.wait(self.retry_interval)

    # -- helpers for transports --------------------------------------------------------------
    def _line(self, line: str) -> None:
        self.lines += 1
        try:
            self.handle_line(line)
        except Exception as e:
            why = type(e).__name__ if self.sensitive else f"{type(e).__name__}: {shorten(str(e))}"
            log.warning("%s: line rejected (%s)", self.device.id, why)

    def _bad(self, why: str) -> None:
        self.skipped += 1
        log.warning("%s: %s", self.device.id, why)

    def _set_status(self, status: Status, detail: str = "") -> None:
        with self._state_lock:
            changed = status != self._status
            self._status, self._detail = status, detail
        if changed:
            if status is Status.PROBLEM:
                log.warning("%s: %s", self.device.id, detail)
            self.emit(DeviceEvent(self.device.id, "status", status, detail))

    def status(self) -> Status:
        return self._status

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "name": self.device.name,
            "detail": self._detail,
            "lines": self.lines,
            "skipped": self.skipped,
        }
