"""The small interfaces every driver implements, and the events they emit.

Learned from Odoo's IoT box: an *interface* enumerates devices of one connection type;
each found device goes to the highest-priority *driver* whose ``supported()`` says yes.
The till business (posd) only ever sees these events and the ``Driver`` methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):  # noqa: UP042 - StrEnum would change str(Status.OK)
    """Tri-state device health: never a guess."""

    OK = "ok"
    PROBLEM = "problem"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DeviceInfo:
    """A device an interface found. ``id`` is stable (serial number / USB path), not a counter."""

    id: str
    kind: str  # scanner | card_reader | printer | drawer
    interface: str  # serial | hid | usb | network | simulated
    path: str = ""  # /dev/ttyACM0, /dev/input/event3, host:port, ...
    name: str = ""
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Scan:
    """A barcode read by a scanner."""

    code: str
    symbology: str  # "ean13", "ean8", "upca", "upce", "code128", "unknown", ...
    device: str  # DeviceInfo.id


@dataclass(frozen=True)
class CardRead:
    """A card presented to a reader. Never carries a full PAN or track data."""

    kind: str  # "magstripe" | "nfc"
    device: str
    masked_pan: str = ""  # first 6 / last 4, e.g. "412345******1234"
    name: str = ""  # cardholder name from track 1, if any
    expiry: str = ""  # YYMM
    uid: str = ""  # NFC UID, hex


@dataclass(frozen=True)
class DeviceEvent:
    """A device came, went, or changed status."""

    device: str
    what: str  # "added" | "removed" | "status"
    status: Status = Status.UNKNOWN
    detail: str = ""


Event = Scan | CardRead | DeviceEvent
EventSink = Callable[[Event], None]


class Driver:
    """One device in use. Subclasses set ``kind``/``name``/``priority`` and override what they do."""

    kind: str = ""
    name: str = ""
    priority: int = 0

    def __init__(self, device: DeviceInfo, emit: EventSink) -> None:
        self.device = device
        self.emit = emit

    @classmethod
    def supported(cls, device: DeviceInfo) -> bool:
        """True when this driver can run ``device``."""
        return False

    def start(self) -> None:
        """Open the device and begin emitting events (non-blocking)."""

    def stop(self) -> None:
        """Release the device. Must not raise."""

    def status(self) -> Status:
        return Status.UNKNOWN

    def describe(self) -> dict[str, Any]:
        """What a technician needs to see in `posd devices`."""
        return {
            "id": self.device.id,
            "kind": self.kind,
            "driver": self.name,
            "interface": self.device.interface,
            "path": self.device.path,
            "status": self.status().value,
        }
