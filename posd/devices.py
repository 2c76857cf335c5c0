"""Devices → sale: scanner reads go down the same path as an API scan; card reads become events.

drivers/ finds and runs the hardware; this module only decides what each event means for the
till. Under --simulate every device kind the config does not name is simulated.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from drivers.base import CardRead, DeviceEvent, Event, Scan
from drivers.manager import DeviceManager
from posd.sale import SaleError

if TYPE_CHECKING:
    from posd.daemon import Daemon

log = logging.getLogger("posd.devices")
SIMULATED_KINDS = ("scanner", "card_reader")


class DeviceHub:
    def __init__(self, daemon: Daemon, autodetect: bool | None = None) -> None:
        self.daemon = daemon
        # a simulated till looks for nothing on its own; a real one polls serial ports and evdev
        detect = (not daemon.simulate) if autodetect is None else autodetect
        self.manager = DeviceManager(self.on_event, None if detect else [])
        entries = [d for d in daemon.config.device if d.get("kind") != "printer"]
        self.manager.attach_all(entries)
        if daemon.simulate:
            named = {d.get("kind") for d in daemon.config.device}
            for kind in SIMULATED_KINDS:
                if kind not in named:
                    self.manager.attach(
                        {"kind": kind, "driver": "simulated", "id": f"{kind}:simulated"}
                    )

    def start(self) -> None:
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop()

    def devices(self) -> list[dict[str, Any]]:
        out = self.manager.devices()
        if self.daemon.spooler.printer is not None:
            out.append(self.daemon.spooler.printer.describe())
        return out

    def simulated(self, kind: str) -> Any:
        """The simulated driver of ``kind`` (scanner / card_reader), for the API and tests."""
        return next((d for d in self.manager.drivers(kind) if d.name == "simulated"), None)

    def on_event(self, event: Event) -> None:
        bus = self.daemon.bus
        if isinstance(event, Scan):
            try:
                self.daemon.register.scan(
                    event.code, symbology=event.symbology, device=event.device
                )
            except SaleError as exc:  # already on the event stream for the cashier page
                log.info("scan %s from %s: %s", event.code, event.device, exc.message)
        elif isinstance(event, CardRead):
            bus.publish(
                "card",
                {
                    "kind": event.kind,
                    "device": event.device,
                    "masked_pan": event.masked_pan,
                    "uid": event.uid,
                },
            )
        elif isinstance(event, DeviceEvent):
            bus.publish(
                "device",
                {
                    "device": event.device,
                    "what": event.what,
                    "status": event.status.value,
                    "detail": event.detail,
                },
            )
