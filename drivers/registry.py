"""Which driver runs a device: a registry of driver classes, best first.

Drivers register themselves with ``@register``; a device goes to the highest-priority driver
whose ``supported()`` says yes (Odoo IoT style), so adding hardware support means adding a
module, not another branch in an if-chain. This module sits at the bottom of the import graph
(it imports only ``drivers.base``): driver modules import it to register, and the built-in ones
are imported by name, lazily, the first time someone asks for the drivers.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from collections.abc import Iterable

from .base import DeviceInfo, Driver

log = logging.getLogger(__name__)

# Modules whose import registers the built-in drivers; missing optional ones are skipped.
BUILTIN_MODULES = (
    "drivers.scanners.readers",
    "drivers.cards.readers",
    "drivers.scanners.simulated",
    "drivers.cards.simulated",
    "drivers.printers.escpos",
    "drivers.printers.simulated",
)


class Registry:
    """Driver classes, best first. A separate instance keeps tests independent of built-ins."""

    def __init__(self, builtin_modules: Iterable[str] = ()) -> None:
        self._drivers: list[type[Driver]] = []
        self._lock = threading.RLock()
        self._pending = list(builtin_modules)

    def register(self, driver_cls: type[Driver]) -> type[Driver]:
        """Add a driver class (usable as a class decorator). Re-registering is a no-op."""
        if not (isinstance(driver_cls, type) and issubclass(driver_cls, Driver)):
            raise TypeError(f"{driver_cls!r} is not a Driver subclass")
        if not driver_cls.kind or not driver_cls.name:
            raise ValueError(f"{driver_cls.__name__} must set `kind` and `name` to register")
        with self._lock:
            if driver_cls not in self._drivers:
                self._drivers.append(driver_cls)
        return driver_cls

    def drivers(self) -> list[type[Driver]]:
        """Registered classes, highest priority first (registration order breaks ties)."""
        self._load_builtins()
        with self._lock:
            return sorted(self._drivers, key=lambda c: -c.priority)

    def best_driver(self, device: DeviceInfo) -> type[Driver] | None:
        for cls in self.drivers():
            if cls.supported(device):
                return cls
        return None

    def _load_builtins(self) -> None:
        # Lazy, so driver modules can `from .registry import register` without a cycle.
        with self._lock:
            pending, self._pending = self._pending, []
        for name in pending:
            try:
                if importlib.util.find_spec(name) is not None:
                    importlib.import_module(name)
            except Exception:  # a broken printer module must not take the scanners down
                log.exception("cannot load driver module %s", name)


REGISTRY = Registry(BUILTIN_MODULES)


def register(driver_cls: type[Driver]) -> type[Driver]:
    """Class decorator: make ``driver_cls`` available to ``best_driver`` and the config."""
    return REGISTRY.register(driver_cls)


def best_driver(device: DeviceInfo, registry: Registry | None = None) -> type[Driver] | None:
    """The highest-priority registered driver that supports ``device``, or None."""
    return (registry or REGISTRY).best_driver(device)
