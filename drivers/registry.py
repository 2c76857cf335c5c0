"""Which driver runs a device: a registry of driver classes, and config entries -> devices.

Drivers register themselves with ``@register``; a device goes to the highest-priority driver
whose ``supported()`` says yes (Odoo IoT style), so adding hardware support means adding a
module, not another branch in an if-chain.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from .base import DeviceInfo, Driver
from .lines import terminator_bytes

log = logging.getLogger(__name__)

KINDS = ("scanner", "card_reader", "printer", "drawer")
# config `driver` -> DeviceInfo.interface, and the kinds it may serve
CONFIG_DRIVERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "serial": ("serial", ("scanner", "card_reader")),
    "hid": ("hid", ("scanner", "card_reader")),
    "escpos-network": ("network", ("printer", "drawer")),
    "escpos-usb": ("usb", ("printer", "drawer")),
    "escpos-serial": ("serial", ("printer", "drawer")),
    "escpos-file": ("file", ("printer", "drawer")),
    "simulated": ("simulated", KINDS),
}
# Modules whose import registers the built-in drivers; missing optional ones are skipped.
BUILTIN_MODULES = (
    "drivers.scanner_serial",
    "drivers.scanner_hid",
    "drivers.cardreader",
    "drivers.simulated",
    "drivers.printer",
    "drivers.sim_printer",
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


# -- config entries ----------------------------------------------------------------------------
def _bad(key: str, value: Any, why: str) -> ValueError:
    return ValueError(f"device entry: key {key!r} = {value!r} {why}")


def _str(entry: Mapping[str, Any], key: str, required: bool = False) -> str:
    value = entry.get(key)
    if value is None:
        if required:
            raise ValueError(f"device entry: missing key {key!r}")
        return ""
    if not isinstance(value, str) or not value.strip():
        raise _bad(key, value, "must be a non-empty string")
    return value.strip()


def _int(entry: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(key, value, f"must be an integer from {lo} to {hi}")
    return value


def _check_options(entry: Mapping[str, Any]) -> None:
    """Type-check the optional keys this package reads, so typos fail at config check."""
    if "aim_ids" in entry and not isinstance(entry["aim_ids"], bool):
        raise _bad("aim_ids", entry["aim_ids"], "must be true or false")
    if "terminator" in entry:
        terminator_bytes(entry["terminator"])  # raises ValueError naming the key
    if "mode" in entry and entry["mode"] not in ("auto", "magstripe", "nfc"):
        raise _bad("mode", entry["mode"], "is not one of auto, magstripe, nfc")
    if "uid_format" in entry and entry["uid_format"] not in ("auto", "hex", "decimal"):
        raise _bad("uid_format", entry["uid_format"], "is not one of auto, hex, decimal")
    for key in ("id", "name"):
        if key in entry:
            _str(entry, key)


def device_from_config(entry: Mapping[str, Any]) -> DeviceInfo:
    """Validate one ``[[device]]`` entry and describe it as a DeviceInfo.

    The id is the entry's ``id`` if given, else ``kind:driver:path``: stable across restarts
    and replugs, as the config path is what the technician chose. Unknown keys are kept in
    ``options`` (printer drivers read their own).
    """
    if not isinstance(entry, Mapping):
        raise ValueError(f"device entry must be a table, not {type(entry).__name__}")
    kind = _str(entry, "kind", required=True)
    if kind not in KINDS:
        raise _bad("kind", kind, f"is not one of {', '.join(KINDS)}")
    driver = _str(entry, "driver", required=True)
    if driver not in CONFIG_DRIVERS:
        raise _bad("driver", driver, f"is not one of {', '.join(CONFIG_DRIVERS)}")
    interface, kinds = CONFIG_DRIVERS[driver]
    if kind not in kinds:
        raise _bad(
            "driver",
            driver,
            f"cannot serve kind {kind!r} (use one of: "
            + ", ".join(d for d, (_, k) in CONFIG_DRIVERS.items() if kind in k)
            + ")",
        )
    _check_options(entry)
    options: dict[str, Any] = dict(entry)
    if driver in ("serial", "escpos-serial"):
        path = _str(entry, "port", required=True)
        options["baudrate"] = _int(entry, "baudrate", 9600, 50, 4_000_000)
    elif driver in ("hid", "escpos-file"):
        path = _str(entry, "path", required=True)
    elif driver == "escpos-network":
        host = _str(entry, "host", required=True)
        options["tcp_port"] = _int(entry, "tcp_port", 9100, 1, 65535)
        path = f"{host}:{options['tcp_port']}"
    elif driver == "escpos-usb":
        path = _str(entry, "path")
        if not path and "vendor_id" in entry:
            vid = _int(entry, "vendor_id", 0, 0, 0xFFFF)
            pid = _int(entry, "product_id", 0, 0, 0xFFFF)
            path = f"{vid:04x}:{pid:04x}"
    else:  # simulated
        path = ""
    default_id = f"{kind}:{driver}:{path}" if path else f"{kind}:{driver}"
    return DeviceInfo(
        id=_str(entry, "id") or default_id,
        kind=kind,
        interface=interface,
        path=path,
        name=_str(entry, "name") or f"{driver} {kind}",
        options=options,
    )


def driver_for_config(
    entry: Mapping[str, Any], registry: Registry | None = None
) -> tuple[DeviceInfo, type[Driver]]:
    """(DeviceInfo, driver class) for a config entry; ValueError naming the bad key/value."""
    device = device_from_config(entry)
    cls = best_driver(device, registry)
    if cls is None:
        raise ValueError(
            f"device entry: no driver available for kind {device.kind!r} with "
            f"driver {entry['driver']!r}"
        )
    return device, cls


def __getattr__(name: str) -> Any:
    # `from drivers.registry import DeviceManager` works too; it lives in drivers.manager.
    if name == "DeviceManager":
        from .manager import DeviceManager

        return DeviceManager
    raise AttributeError(name)
