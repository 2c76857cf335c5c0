"""Serial line devices (USB CDC-ACM, USB-serial, RS-232) read with pyserial's ReaderThread.

Latency matters (a cashier scans a basket in seconds): ReaderThread blocks in
``read(in_waiting or 1)`` and we split lines straight in that thread, no polling, no sleeps.
"""

from __future__ import annotations

import threading

import serial
import serial.threaded

from ..base import DeviceInfo, EventSink, Status
from .lines import LineDriver, LineSplitter


class _Port(serial.Serial):
    """A pyserial port whose vanished device raises SerialException, never a bare OSError.

    After an unplug (or a pty master closing) the FIONREAD ioctl behind ``in_waiting`` fails
    with EIO; ReaderThread only catches SerialException and would die without telling us.
    """

    @property
    def in_waiting(self) -> int:
        try:
            return super().in_waiting
        except (OSError, TypeError) as e:  # TypeError: fd already closed under us
            raise serial.SerialException(f"port lost: {e}") from e


def open_port(path: str, baudrate: int = 9600, timeout: float | None = 1.0) -> serial.Serial:
    """Open ``path`` (a device path, or a pyserial URL such as ``socket://``) exclusively.

    The read timeout only bounds an idle read; ReaderThread returns as soon as a byte arrives,
    so it adds no latency.
    """
    if "://" in path:
        return serial.serial_for_url(path, baudrate=baudrate, timeout=timeout)
    return _Port(path, baudrate=baudrate, timeout=timeout, exclusive=True)


class SerialLineDriver(LineDriver):
    """Lines from a serial port; reopens the port every second after it disappears."""

    interface = "serial"

    def __init__(self, device: DeviceInfo, emit: EventSink) -> None:
        super().__init__(device, emit)
        self.port = device.path or str(device.options.get("port", ""))
        self.baudrate = int(device.options.get("baudrate", 9600))
        self._reader: serial.threaded.ReaderThread | None = None
        self._reader_lock = threading.Lock()

    def _serve(self) -> None:
        ser = open_port(self.port, self.baudrate)
        lost = threading.Event()
        reader = serial.threaded.ReaderThread(
            ser,
            lambda: LineSplitter(
                self._line, self.terminators, on_lost=lambda _e: lost.set(), on_bad=self._bad
            ),
        )
        with self._reader_lock:
            if self.stopping:
                ser.close()
                return
            self._reader = reader
        reader.start()
        self._set_status(Status.OK, f"open {self.port}")
        try:
            while not lost.wait(1.0):
                if self.stopping or not reader.is_alive():
                    break
        finally:
            with self._reader_lock:
                self._reader = None
            reader.close()  # stop + join(2) + close the port

    def _interrupt(self) -> None:
        with self._reader_lock:
            reader = self._reader
        if reader is not None:
            reader.alive = False
            reader.serial.cancel_read()  # wakes the blocking select() at once
