"""``[[device]]`` config entries -> DeviceInfo: the one parser, used by the manager and by
posd's config check, so a typo fails at ``posd config check`` rather than at the till.

Validation only: no driver module is imported here (``driver_for_config`` asks the registry,
which loads them on first use).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import DeviceInfo, Driver
from .printers.common import drawer_kick
from .registry import Registry, best_driver

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
# `terminator` key -> the byte a line-reading device sends after each read
TERMINATORS: dict[str, bytes] = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n", "TAB": b"\t"}


def terminator_bytes(name: str | None) -> bytes:
    """The set of bytes that end a line: CR and LF always (tolerate both), plus the configured."""
    if name is None:
        return b"\r\n"
    try:
        extra = TERMINATORS[str(name).upper()]
    except KeyError:
        raise ValueError(
            f"key 'terminator' = {name!r} is not one of {', '.join(TERMINATORS)}"
        ) from None
    return bytes(sorted(set(b"\r\n" + extra)))


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
    _check_drawer(entry)


def _check_drawer(entry: Mapping[str, Any]) -> None:
    """``drawer = "pin2" | "pin5"`` and ``drawer_pulse_ms`` on a printer, or a ``drawer`` device
    (pin 2 unless it says otherwise); no other kind drives a cash drawer."""
    kind = entry.get("kind")
    keys = [k for k in ("drawer", "drawer_pulse_ms") if k in entry]
    if keys and kind not in ("printer", "drawer"):
        raise _bad(keys[0], entry[keys[0]], "applies only to a printer or a drawer entry")
    try:
        drawer_kick(dict(entry), "pin2" if kind == "drawer" else None)
    except ValueError as exc:
        raise ValueError(f"device entry: {exc}") from None


def device_from_config(entry: Mapping[str, Any]) -> DeviceInfo:
    """Validate one ``[[device]]`` entry and describe it as a DeviceInfo.

    The id is the entry's ``id`` if given, else ``kind:driver:path`` (``kind:simulated`` for the
    simulated ones): stable across restarts and replugs, as the config path is what the
    technician chose. Unknown keys are kept in ``options`` (printer drivers read their own).
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
    else:  # simulated: no port; a simulated printer keeps its receipts under `dir`
        path = _str(entry, "dir") if entry.get("dir") else ""
    located = path and driver != "simulated"
    default_id = f"{kind}:{driver}:{path}" if located else f"{kind}:{driver}"
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
