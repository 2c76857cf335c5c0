"""Technician helpers behind ``posd devices`` / ``posd diag``: what is plugged in, who claims it.

Everything returns plain dicts/lists (JSON-ready). The serial probe reports counts and
terminators, not the bytes themselves, unless asked: the port might be a card reader.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Iterable, Mapping
from typing import Any

import serial

from .base import DeviceInfo
from .entries import driver_for_config
from .interfaces import EvdevInterface, SerialInterface, evdev
from .masking import mask_secrets
from .registry import Registry, best_driver
from .transports.serial_port import open_port


def _claim(device: DeviceInfo, registry: Registry | None) -> str | None:
    cls = best_driver(device, registry) if device.kind else None
    return f"{cls.kind}/{cls.name}" if cls else None


def list_serial_ports(registry: Registry | None = None) -> list[dict[str, Any]]:
    """Every serial port the OS knows, with its stable id, guessed kind and claiming driver."""
    out = []
    for device in SerialInterface().scan():
        out.append(
            {
                "id": device.id,
                "path": device.path,
                "name": device.name,
                "kind": device.kind or None,
                "driver": _claim(device, registry),
                "vid": _hex(device.options.get("vid")),
                "pid": _hex(device.options.get("pid")),
                "serial_number": device.options.get("serial_number"),
                "location": device.options.get("location"),
            }
        )
    return out


def list_input_devices(registry: Registry | None = None) -> list[dict[str, Any]]:
    """Every evdev input device (empty if python-evdev is missing), and who would claim it."""
    if evdev is None:
        return []
    out = []
    for path in sorted(glob.glob("/dev/input/event*")):  # not list_devices(): it hides EACCES
        device = EvdevInterface.inspect(path)
        if device is None:
            out.append({"path": path, "error": "cannot open (permissions? the `input` group)"})
            continue
        out.append(
            {
                "id": device.id,
                "path": path,
                "name": device.name,
                "kind": device.kind or None,
                "driver": _claim(device, registry),
                "vid": _hex(device.options.get("vid")),
                "pid": _hex(device.options.get("pid")),
            }
        )
    return out


def check_config(
    entries: Iterable[Mapping[str, Any]], registry: Registry | None = None
) -> list[dict[str, Any]]:
    """Each ``[[device]]`` entry: its id and driver, or the error naming the bad key."""
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(entries):
        try:
            device, cls = driver_for_config(entry, registry)
        except ValueError as e:
            out.append({"index": i, "ok": False, "error": str(e)})
            continue
        out.append(
            {"index": i, "ok": True, "id": device.id, "kind": device.kind, "driver": cls.name}
        )
    return out


def detect(
    entries: Iterable[Mapping[str, Any]] = (), registry: Registry | None = None
) -> dict[str, Any]:
    """All of the above in one JSON-ready report."""
    return {
        "serial": list_serial_ports(registry),
        "input": list_input_devices(registry),
        "evdev_available": evdev is not None,
        "configured": check_config(entries, registry),
    }


def probe_serial(
    port: str, seconds: float = 3.0, baudrate: int = 9600, show_data: bool = False
) -> dict[str, Any]:
    """Open ``port``, read for ``seconds`` (scan something meanwhile), report what came.

    Tells a technician whether the port is alive, which terminator the scanner sends (for the
    ``terminator`` key) and whether the data is text. ``show_data`` adds the first 64 bytes.
    """
    report: dict[str, Any] = {"port": port, "baudrate": baudrate, "seconds": seconds}
    data = bytearray()
    first_at = None
    try:
        ser = open_port(port, baudrate, timeout=0.1)
    except (serial.SerialException, OSError, ValueError) as e:
        return report | {"ok": False, "error": f"cannot open: {e}"}
    start = time.monotonic()
    try:
        while (left := seconds - (time.monotonic() - start)) > 0:
            ser.timeout = min(0.1, left)
            chunk = ser.read(ser.in_waiting or 1)
            if chunk and first_at is None:
                first_at = time.monotonic() - start
            data += chunk
    except (serial.SerialException, OSError) as e:
        report["error"] = f"read failed: {e}"
    finally:
        ser.close()
    text = bytes(data)
    crlf = text.count(b"\r\n")
    terminators = {
        "CRLF": crlf,
        "CR": text.count(b"\r") - crlf,
        "LF": text.count(b"\n") - crlf,
        "TAB": text.count(b"\t"),
    }
    seen = max(terminators, key=lambda k: terminators[k]) if any(terminators.values()) else None
    lines = [x for x in text.replace(b"\r", b"\n").replace(b"\t", b"\n").split(b"\n") if x]
    report |= {
        "ok": "error" not in report,
        "bytes": len(text),
        "lines": len(lines),
        "first_byte_after_s": None if first_at is None else round(first_at, 3),
        "terminators": terminators,
        "suggested_terminator": seen,
        "non_ascii_bytes": sum(1 for b in text if b > 0x7E or (b < 0x20 and b not in b"\r\n\t")),
        "aim_prefixed_lines": sum(1 for x in lines if x[:1] == b"]" and len(x) > 3),
    }
    if show_data:
        # a card swipe or a scanned claim URL on the port is masked like everywhere else (§7)
        report["sample_hex"] = mask_secrets(text.decode("latin-1")).encode("latin-1")[:64].hex(" ")
    return report


def _hex(value: Any) -> str | None:
    return f"{value:04x}" if isinstance(value, int) else None
