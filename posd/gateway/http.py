"""The gateway's HTTP server settings: what an internet-facing listener must bound (DESIGN §9).

uvicorn over h11 (never httptools, whose header size is unbounded): request heads over 16 KiB
are refused by h11 with a 400; a connection that has not finished its request head within
``head_timeout_s`` (a slowloris dribbling one header byte at a time, on the first request or a
kept-alive one) is closed; slow bodies are bounded in the app (408). ``X-Forwarded-For`` is never
believed by uvicorn itself (its default trusts any peer on 127.0.0.1): only
:class:`~posd.gateway.limits.ClientIp` decides, from ``[gateway] trusted_proxies``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEAD = 16 * 1024  # bytes of request line + headers
MAX_CONNECTIONS = 1000  # beyond it a request gets uvicorn's 503


def guarded_protocol(head_timeout_s: float) -> type[asyncio.Protocol]:
    """An h11 protocol class whose connections must send each request head in time."""

    class GuardedH11(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None
        _seen_cycle: Any = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(head_timeout_s, self._head_late)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()  # no answer: a slow head gets nothing but a closed socket

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and self.cycle is not self._seen_cycle:
                self._seen_cycle = self.cycle  # a complete request head arrived
                self._disarm()

        def on_response_complete(self) -> None:
            self._arm()  # the next request on this kept-alive connection has the same deadline
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11


def server_options(head_timeout_s: float) -> dict[str, Any]:
    """uvicorn.Config keyword arguments for an exposed gateway."""
    return {
        "http": guarded_protocol(head_timeout_s),
        "h11_max_incomplete_event_size": MAX_HEAD,
        "proxy_headers": False,
        "limit_concurrency": MAX_CONNECTIONS,
        "timeout_keep_alive": 5,
        "server_header": False,
    }
