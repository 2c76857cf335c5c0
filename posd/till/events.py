"""In-process event bus: sale changes, unknown products, device and printer news for the pages.

Publishing never blocks and never touches the disk (a scan must stay fast); a slow subscriber
loses its oldest events rather than slowing the till.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import Any


class EventBus:
    def __init__(self, backlog: int = 256) -> None:
        self._subs: set[queue.Queue] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._backlog = backlog

    def publish(self, kind: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        event = {"id": next(self._ids), "kind": kind, "at": time.time(), "data": data or {}}
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            while True:
                try:
                    q.put_nowait(event)
                    break
                except queue.Full:
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass
        return event

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=self._backlog)
        with self._lock:
            self._subs.add(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self._subs.discard(q)
