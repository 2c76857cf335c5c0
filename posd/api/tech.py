"""The technician's routes (DESIGN §12): the day's report, a test print, the recent events.

They see the till only through :class:`TechService` (implemented in :mod:`posd.app.tech`), like
the other routes see :class:`posd.api.port.TillService`. All need the tech scope (or the bearer
token); what they answer is masked: no claim URL, no card number, no key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.routing import Route

from posd.api import inputs
from posd.errors import BadInput, Unavailable

MAX_RECENT = 200


class TechService(Protocol):
    def report(self, day: str | None) -> dict[str, Any]:
        """The end-of-day report of ``day`` (YYYY-MM-DD; None: today)."""
        ...

    def test_print(self) -> dict[str, Any]:
        """Print a test page (with a QR of the till's id) now; what was printed where."""
        ...

    def recent_events(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` events (the durable log and the live bus), oldest first, masked."""
        ...


Wrap = Callable[[Callable[[Request], Awaitable[Any]], str | None], Any]


def routes(tech: TechService | None, route: Wrap) -> list[Route]:
    """The routes, each wrapped by the app's ``route`` (auth, JSON); 503 without a service."""

    def service() -> TechService:
        if tech is None:
            raise Unavailable("the technician's tools are not available here", "no_tech")
        return tech

    async def report(request: Request) -> dict[str, Any]:
        day = request.query_params.get("day") or None
        if day is not None and len(day) > 32:
            raise BadInput("day must be a date like 2026-03-31 (YYYY-MM-DD)", "bad_day")
        return await asyncio.to_thread(service().report, day)

    async def test_print(request: Request) -> dict[str, Any]:
        await inputs.body(request)
        return await asyncio.to_thread(service().test_print)

    async def recent(request: Request) -> dict[str, Any]:
        raw = request.query_params.get("limit", "50")
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw[:6]) <= MAX_RECENT:
            raise BadInput(f"limit must be a whole number 1..{MAX_RECENT}", "bad_limit")
        events = await asyncio.to_thread(service().recent_events, int(raw))
        return {"events": events}

    return [
        Route("/api/report", route(report, "tech")),
        Route("/api/tech/test-print", route(test_print, "tech"), methods=["POST"]),
        Route("/api/events/recent", route(recent, "tech")),
    ]


def paths(op: Callable[..., dict[str, Any]], anything: dict[str, Any]) -> dict[str, Any]:
    """The routes' OpenAPI description (``op`` is :func:`posd.api.openapi._op`)."""
    day = {
        "name": "day",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date", "examples": ["2026-03-31"]},
    }
    limit = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_RECENT, "default": 50},
    }
    return {
        "/api/report": {
            "get": op(
                "The end-of-day report (informational, not fiscal) of a day in [store] timezone",
                "tech",
                anything,
                parameters=[day],
            )
        },
        "/api/tech/test-print": {
            "post": op(
                "Print a test page with a QR of the till's id now",
                "tech",
                anything,
                {"type": "object", "maxProperties": 0},
            )
        },
        "/api/events/recent": {
            "get": op(
                "The last events (log and live), oldest first, masked",
                "tech",
                anything,
                parameters=[limit],
            )
        },
    }
