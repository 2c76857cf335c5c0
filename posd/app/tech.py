"""The technician's tools behind :class:`posd.api.tech.TechService`: report, test print, events.

Gets only what it needs: the config, the store, the till's address, the receipt printer and the
event bus. The recent events are the durable log's (sales, refunds, flushes: they survive a
restart) merged with the live bus's (scans, card reads, devices: in memory) — the bus is kept
through one subscription drained only when asked, so the till pays nothing per event.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.masking import mask_secrets
from drivers.printers.escpos import PrinterDriver
from posd.app import report as eod
from posd.app.printout import print_document
from posd.config.settings import Config
from posd.db import report as q
from posd.db.store import Store
from posd.receipt.zreport import test_page
from posd.till.events import EventBus

LIVE_KEPT = 200


@dataclass
class TechDesk:
    config: Config
    store: Store
    till: str
    printer: Callable[[], PrinterDriver | None]
    bus: EventBus
    _live: deque = field(default_factory=lambda: deque(maxlen=LIVE_KEPT))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._sub = self.bus.subscribe()  # its backlog drops the oldest: a ring, drained lazily

    def report(self, day: str | None) -> dict[str, Any]:
        return eod.build(self.config, self.store, day)

    def test_print(self) -> dict[str, Any]:
        printer = self.printer()
        info = {
            "store": self.config.store.name,
            "till_name": self.config.till.name,
            "till": self.till,
            "printer": printer.device.id if printer else "",
            "at": int(time.time()),
            "qr": self.till,  # the till's public id: scan it into an explorer or a ticket
        }
        width = self.config.receipt.width
        where = print_document(printer, test_page(info, width), width, f"test-{info['at']}")
        self.bus.publish("test_print", {"printer": where})
        return {"printed": True, "printer": where, "qr": info["qr"]}

    def recent_events(self, limit: int) -> list[dict[str, Any]]:
        live = self._drain()
        logged = [
            {"at": e["at"], "kind": e["kind"], "data": e["data"], "source": "log"}
            for e in q.recent_events(self.store, limit)
        ]
        # the register logs a cancelled sale and also announces it: show it once
        seen = [(e["kind"], e["at"]) for e in live]
        logged = [
            e for e in logged if not any(k == e["kind"] and abs(a - e["at"]) < 2 for k, a in seen)
        ]
        merged = sorted(logged + live, key=lambda e: e["at"])[-limit:]
        return [{**e, "data": _masked(e["data"])} for e in merged]

    def _drain(self) -> list[dict[str, Any]]:
        with self._lock:
            while True:
                try:
                    event = self._sub.get_nowait()
                except queue.Empty:
                    break
                self._live.append(
                    {
                        "at": event["at"],
                        "kind": event["kind"],
                        "data": event["data"],
                        "source": "live",
                    }
                )
            return list(self._live)

    def close(self) -> None:
        self.bus.unsubscribe(self._sub)


def _masked(value: Any) -> Any:
    """Every string in an event masked again (a row logged by an older till may hold a PAN)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value
