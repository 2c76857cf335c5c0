"""The in-process "transport" of simulated devices: events are injected by the API or a test.

Simulated scanners and card readers (``posd run --simulate``, demos, tests) emit through the
same sink and the same parsing as real devices, synchronously in the caller's thread, so the
caller sees the event before ``inject``/``swipe``/``tap`` returns.
"""

from __future__ import annotations

from ..base import DeviceEvent, DeviceInfo, Driver, EventSink, Status


class SimulatedDriver(Driver):
    """A device with nothing to open: OK while started. Subclasses set ``kind``."""

    name = "simulated"
    priority = 0

    def __init__(self, device: DeviceInfo, emit: EventSink) -> None:
        super().__init__(device, emit)
        self._running = False

    @classmethod
    def supported(cls, device: DeviceInfo) -> bool:
        return device.interface == "simulated" and device.kind == cls.kind

    def start(self) -> None:
        self._running = True
        self.emit(DeviceEvent(self.device.id, "status", Status.OK, "simulated"))

    def stop(self) -> None:
        self._running = False

    def status(self) -> Status:
        return Status.OK if self._running else Status.UNKNOWN
