"""The DeviceManager: owns interfaces and drivers, and funnels every event into one sink.

Polls diff the device lists. A device that is missing from a poll is kept until it has missed
``missed_polls`` polls in a row (USB devices blink out during a reset or a brown-out; tearing
the driver down and up again would lose scans). Configured devices are attached explicitly
and never dropped: their drivers reconnect by themselves. Every kind goes this way, printers
too: a configured device's driver is built when it is attached (no I/O until ``start()``), so
a service that needs it from the start (the print spooler) can take it from ``driver(id)``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import DeviceEvent, DeviceInfo, Driver, Event, EventSink, Status
from .entries import driver_for_config
from .interfaces import ConfiguredInterface, EvdevInterface, Interface, SerialInterface
from .registry import REGISTRY, Registry

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    device: DeviceInfo
    driver: Driver
    source: Interface
    missed: int = 0


def default_interfaces() -> list[Interface]:
    """Auto-detection as shipped: serial ports and evdev keyboard-wedge devices."""
    return [SerialInterface(), EvdevInterface()]


class DeviceManager:
    """Finds devices, runs their drivers, forwards their events.

    ``sink`` is called from driver threads (keep it quick and thread-safe); an exception in it
    is logged, never allowed to kill a reader. ``interfaces=None`` means auto-detection with
    ``default_interfaces()``; pass ``[]`` for configured devices only. ``poll_interval=None``
    disables the poll thread (call ``poll()`` yourself, e.g. from a scheduler or udev hook).
    """

    def __init__(
        self,
        sink: EventSink,
        interfaces: Iterable[Interface] | None = None,
        *,
        registry: Registry | None = None,
        poll_interval: float | None = 2.0,
        missed_polls: int = 3,
    ) -> None:
        self._sink = sink
        self.registry = registry or REGISTRY
        self.configured = ConfiguredInterface()
        self.interfaces: list[Interface] = list(
            default_interfaces() if interfaces is None else interfaces
        )
        self.poll_interval = poll_interval
        self.missed_polls = missed_polls
        self._slots: dict[str, _Slot] = {}
        self._attached: dict[str, Driver] = {}  # configured drivers, built by attach()
        self._ops = threading.RLock()  # serialises attach/detach/poll/start/stop
        self._table = threading.Lock()  # guards _slots for quick readers
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self._reserved: set[str] = set()

    # -- public API ------------------------------------------------------------------------------
    def attach(self, entry: Mapping[str, Any]) -> DeviceInfo:
        """Add a configured device (a ``[[device]]`` entry) and build its driver; starts it now
        if running, else with ``start()``.

        Raises ValueError naming the bad key/value, or for a duplicate id.
        """
        with self._ops:
            device, cls = driver_for_config(entry, self.registry)
            self.configured.add(entry)
            driver = self._build(device, cls)
            if driver is not None:
                with self._table:
                    self._attached[device.id] = driver
            if self._running:
                self._release_path(device.path)
                self._add(device, cls, self.configured)
            return device

    def attach_all(self, entries: Iterable[Mapping[str, Any]]) -> list[DeviceInfo]:
        """``attach`` each entry; the first bad one raises (nothing after it is attached)."""
        return [self.attach(e) for e in entries]

    def reserve(self, paths: Iterable[str]) -> None:
        """Ports that auto-detection must leave alone (e.g. a printer driven elsewhere)."""
        with self._ops:
            self._reserved |= {_real(p) for p in paths if p}

    def detach(self, device_id: str) -> bool:
        """Stop and forget a device (configured or detected). True if it was known."""
        with self._ops:
            self.configured.remove(device_id)
            with self._table:
                attached = self._attached.pop(device_id, None) is not None
            return self._remove(device_id) or attached

    def start(self) -> None:
        """Start configured drivers, run one poll now, then poll in the background."""
        with self._ops:
            if self._running:
                return
            self._running = True
            self._stop.clear()
            self.poll()
        if self.poll_interval:
            self._thread = threading.Thread(
                target=self._poll_loop, name="posd-devices", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop polling and every driver. Does not raise."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10.0)
        with self._ops:
            self._running = False
            for device_id in list(self._slots):
                self._remove(device_id, announce=False)

    def poll(self) -> None:
        """One detection pass: add new devices, count misses, drop the long-gone."""
        with self._ops:
            if not self._running:
                return
            seen: dict[str, tuple[DeviceInfo, Interface]] = {}
            failed: set[int] = set()
            for iface in (self.configured, *self.interfaces):
                try:
                    found = iface.scan()
                except Exception as e:
                    log.warning("interface %s scan failed: %s", iface.name or iface, e)
                    failed.add(id(iface))
                    continue
                for device in found:
                    seen.setdefault(device.id, (device, iface))
            for device_id, slot in list(self._slots.items()):
                if device_id in seen:
                    slot.missed = 0
                    now = seen[device_id][0]
                    if now.path != slot.device.path and not slot.source.persistent:
                        self._remove(device_id)  # replugged under a new node: restart there
                    continue
                if id(slot.source) in failed:
                    continue  # we do not know; do not count a miss
                slot.missed += 1
                if slot.missed >= self.missed_polls:
                    log.info("device %s gone after %d missed polls", device_id, slot.missed)
                    self._remove(device_id)
            reserved = self.configured.paths() | self._reserved
            for device_id, (device, iface) in seen.items():
                if device_id in self._slots:
                    continue
                if not iface.persistent and _real(device.path) in reserved:
                    continue  # the config names this port; its configured driver owns it
                cls = self.registry.best_driver(device)
                if cls is not None:
                    self._add(device, cls, iface)

    def devices(self) -> list[dict[str, Any]]:
        """``describe()`` of every running driver, plus whether it came from the config."""
        with self._table:
            slots = list(self._slots.values())
        out = []
        for slot in slots:
            try:
                info = slot.driver.describe()
            except Exception as e:
                info = {"id": slot.device.id, "status": Status.UNKNOWN.value, "error": str(e)}
            info["configured"] = slot.source is self.configured
            out.append(info)
        return out

    def driver(self, device_id: str) -> Driver | None:
        """The driver for ``device_id``: running, or configured and waiting for ``start()``
        (e.g. to ``inject`` into a simulated scanner, or the printer for the spooler)."""
        with self._table:
            slot = self._slots.get(device_id)
            return slot.driver if slot else self._attached.get(device_id)

    def drivers(self, kind: str | None = None) -> list[Driver]:
        """Running drivers, then configured ones not running yet, optionally of one kind only
        (``scanner``, ``printer`` ...)."""
        with self._table:
            found = [s.driver for s in self._slots.values()]
            found += [d for i, d in self._attached.items() if i not in self._slots]
        return [d for d in found if kind is None or d.kind == kind]

    # -- internals -------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        try:
            self._sink(event)
        except Exception:
            log.exception("device event sink failed on %s", type(event).__name__)

    def _poll_loop(self) -> None:
        assert self.poll_interval
        while not self._stop.wait(self.poll_interval):
            try:
                self.poll()
            except Exception:
                log.exception("device poll failed")

    def _build(self, device: DeviceInfo, cls: type[Driver]) -> Driver | None:
        try:
            return cls(device, self._emit)
        except Exception:  # one bad device must not stop the others being detected
            log.exception("driver %s cannot take %s", cls.name, device.id)
            return None

    def _add(self, device: DeviceInfo, cls: type[Driver], source: Interface) -> None:
        driver = self._attached.get(device.id) if source is self.configured else None
        if type(driver) is not cls:  # not attached, or the registry has changed since
            driver = self._build(device, cls)
            if driver is None:
                return
            if source is self.configured:
                with self._table:
                    self._attached[device.id] = driver
        with self._table:
            self._slots[device.id] = _Slot(device, driver, source)
        self._emit(DeviceEvent(device.id, "added", Status.UNKNOWN, cls.name))
        try:
            driver.start()
        except Exception as e:
            log.exception("driver %s failed to start on %s", cls.name, device.id)
            self._emit(DeviceEvent(device.id, "status", Status.PROBLEM, f"start failed: {e}"))

    def _remove(self, device_id: str, announce: bool = True) -> bool:
        with self._table:
            slot = self._slots.pop(device_id, None)
        if slot is None:
            return False
        try:
            slot.driver.stop()
        except Exception:
            log.exception("driver %s failed to stop", device_id)
        if announce:
            self._emit(DeviceEvent(device_id, "removed", Status.UNKNOWN))
        return True

    def _release_path(self, path: str) -> None:
        """Stop an auto-detected driver holding a port that the config now claims."""
        if not path.startswith("/"):
            return
        real = _real(path)
        for device_id, slot in list(self._slots.items()):
            if not slot.source.persistent and _real(slot.device.path) == real:
                self._remove(device_id)


def _real(path: str) -> str:
    return os.path.realpath(path) if path.startswith("/") else path
