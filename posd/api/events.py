"""The pages' event stream (SSE ``GET /api/events``) with asyncio-native fan-out.

One bridge thread takes the till's events (its bus is thread-based: drivers publish from their
own threads) and hands each to the event loop with ``call_soon_threadsafe``; every subscriber
is an ``asyncio.Queue``. An idle stream therefore costs a queue and a timer, never a thread of
the default executor (which the sale routes need: 40 idle streams used to make a payment wait
seconds). Subscribers are bounded (:data:`MAX_SUBSCRIBERS`, then 503), a client that hangs up
is noticed at once (``http.disconnect``), and a stopping till ends every stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from typing import Any

from starlette.types import Receive, Scope, Send

from posd.api.port import TillService
from posd.errors import Unavailable

log = logging.getLogger("posd.api.events")
MAX_SUBSCRIBERS = 32
BACKLOG = 256  # a slow page loses its oldest events, never slows the till
KEEPALIVE_S = 5.0  # a comment line this often keeps proxies and idle-timeouts from closing it
_STOP = None  # the sentinel that ends every stream


class EventHub:
    """Fan-out of the till's events to the open streams, on the API's event loop."""

    def __init__(self, till: TillService, limit: int = MAX_SUBSCRIBERS) -> None:
        self.till = till
        self.limit = limit
        self.subscribers: set[asyncio.Queue] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bridge: threading.Thread | None = None
        self._stopped = False

    def open(self) -> asyncio.Queue:
        """A new subscriber (on the event loop); 503 ``too_many_streams`` past the bound."""
        if self._stopped or self.till.stopping():
            raise Unavailable("the till is stopping", "stopping")
        if len(self.subscribers) >= self.limit:
            raise Unavailable(
                f"too many open event streams (at most {self.limit}); close a page",
                "too_many_streams",
            )
        if self._bridge is None:  # on the bus before the first stream opens: no event lost
            self._loop = asyncio.get_running_loop()
            bus = self.till.subscribe()
            self._bridge = threading.Thread(
                target=self._pump, args=(bus,), name="api-events", daemon=True
            )
            self._bridge.start()
        sub: asyncio.Queue = asyncio.Queue(maxsize=BACKLOG)
        self.subscribers.add(sub)
        return sub

    def close(self, sub: asyncio.Queue) -> None:
        self.subscribers.discard(sub)

    def _deliver(self, event: dict[str, Any] | None) -> None:
        if event is _STOP:
            self._stopped = True
        for sub in list(self.subscribers):
            if sub.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    sub.get_nowait()
            sub.put_nowait(event)

    def _pump(self, bus: queue.Queue) -> None:
        """The one bridge thread: the till's bus → the loop, until the till stops."""
        loop = self._loop
        assert loop is not None
        try:
            while not self.till.stopping():
                try:
                    event = bus.get(True, 0.5)
                except queue.Empty:
                    continue
                try:
                    loop.call_soon_threadsafe(self._deliver, event)
                except RuntimeError:  # the loop is closed: nobody listens any more
                    return
        finally:
            self.till.unsubscribe(bus)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._deliver, _STOP)


def _frame(event: dict[str, Any]) -> bytes:
    return f"id: {event['id']}\nevent: {event['kind']}\ndata: {json.dumps(event)}\n\n".encode()


class EventStream:
    """The ASGI response of one subscriber: ends when the client hangs up or the till stops."""

    def __init__(self, hub: EventHub, sub: asyncio.Queue) -> None:
        self.hub, self.sub = hub, sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-store"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            pump = asyncio.ensure_future(self._pump(send))
            hangup = asyncio.ensure_future(self._hangup(receive))
            try:
                await asyncio.wait({pump, hangup}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (pump, hangup):
                    task.cancel()
                done, _ = await asyncio.wait({pump, hangup}, timeout=1.0)  # bounded, then freed
                for task in done:  # retrieved, so a failed task is not logged at exit
                    if not task.cancelled():
                        task.exception()
            if pump.done() and not pump.cancelled() and pump.exception() is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.hub.close(self.sub)

    async def _pump(self, send: Send) -> None:
        """Events as they come, a keep-alive comment when none came for KEEPALIVE_S.

        Not ``asyncio.wait_for(queue.get(), …)``: on Python 3.11 it swallows a cancellation that
        arrives together with an event, and the stream of a page that had hung up then lived on
        (its subscriber place never freed). ``asyncio.wait`` never swallows it, and the one
        pending ``get`` is kept across keep-alives, so no event is lost to a timeout either.
        """
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        getter: asyncio.Future | None = None
        try:
            while True:
                if getter is None:
                    getter = asyncio.ensure_future(self.sub.get())
                done, _ = await asyncio.wait({getter}, timeout=KEEPALIVE_S)
                if not done:
                    body = b": keep-alive\n\n"
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    continue
                event, getter = getter.result(), None
                if event is _STOP:
                    return
                await send({"type": "http.response.body", "body": _frame(event), "more_body": True})
        finally:
            if getter is not None:
                getter.cancel()

    @staticmethod
    async def _hangup(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
