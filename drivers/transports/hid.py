"""Keyboard-wedge devices via evdev: grab the device, turn key events back into lines.

Grabbing (EVIOCGRAB) keeps the scanner's keystrokes out of the cashier's browser; ``keymap``
turns the key events into text.
"""

from __future__ import annotations

import os
import select
import threading
from typing import Any

from ..base import DeviceInfo, EventSink, Status
from .keymap import KEY_ENTER, KEY_KPENTER, KEY_TAB, KeyDecoder
from .lines import LineDriver

try:  # optional: Linux only
    import evdev
except ImportError:  # pragma: no cover - depends on the platform
    evdev = None


class HidLineDriver(LineDriver):
    """Lines from a grabbed evdev keyboard device; regrabs every second after an unplug."""

    interface = "hid"

    def __init__(self, device: DeviceInfo, emit: EventSink) -> None:
        super().__init__(device, emit)
        end = {KEY_ENTER, KEY_KPENTER} | ({KEY_TAB} if b"\t" in self.terminators else set())
        self.end_keys = frozenset(end)
        self._wake_w: int | None = None
        self._wake_lock = threading.Lock()

    def _serve(self) -> None:
        if evdev is None:
            raise RuntimeError("python-evdev is not installed")
        dev = evdev.InputDevice(self.device.path)
        wake_r, wake_w = os.pipe()
        try:
            dev.grab()  # exclusive, else every scan is also typed into the focused window
            with self._wake_lock:
                self._wake_w = wake_w
            if self.stopping:
                return
            self._set_status(Status.OK, f"grabbed {self.device.path}")
            self._pump(dev, wake_r)
        finally:
            with self._wake_lock:
                self._wake_w = None
            os.close(wake_r)
            os.close(wake_w)
            try:
                dev.ungrab()
            except OSError:
                pass  # already gone
            dev.close()

    def _pump(self, dev: Any, wake_r: int) -> None:
        decoder = KeyDecoder(self.end_keys)
        while not self.stopping:
            ready, _, _ = select.select([dev.fd, wake_r], [], [], 1.0)
            if wake_r in ready:
                return
            if dev.fd not in ready:
                continue
            try:
                events = list(dev.read())
            except BlockingIOError:
                continue
            for ev in events:  # OSError (ENODEV) on unplug propagates: reconnect
                line = decoder.feed(ev.type, ev.code, ev.value)
                if line is not None:
                    self._line(line)

    def _interrupt(self) -> None:
        with self._wake_lock:
            if self._wake_w is not None:
                os.write(self._wake_w, b"x")
