"""Local HTTP API (DESIGN §7): loopback only; the till's own pages and local tools, nobody else.

Every request first passes :class:`posd.api.security.Guard` (Host allow-list 421, foreign
Origin 403, JSON-only bodies 415, 64 KiB 413). Every /api route but ``GET /api/status`` then
needs the bearer token or a paired page's session of a wide enough scope (display < cashier <
tech): 401 without, 403 too narrow. Pages are served only to a paired browser, and pairing
(``GET /pair?code=``) swaps a single-use code from `posd pair` for an HttpOnly, SameSite=Strict
session cookie. No unauthenticated request ever receives the token.

Errors are ``{"error": {"code", "message"}}``; every :class:`posd.errors.PosdError` is answered
in one place, and a client's mistake never yields a 500. The routes see the till only through
:class:`posd.api.port.TillService`; a ``claim_url`` goes only to the caller that completed the
sale (the pay answer), never to the sale, the status, the event stream or a page.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from posd.api import inputs, sales_ext
from posd.api import payments as payments_api
from posd.api import qr as payment_qr
from posd.api.errors import error_handlers
from posd.api.events import EventHub, EventStream
from posd.api.openapi import spec
from posd.api.port import SessionStore, TillService, completed_json
from posd.api.security import Access, Guard, rank, session_cookie
from posd.api.tech import TechService
from posd.api.tech import routes as tech_routes
from posd.proof.memberpass import is_pass
from posd.till.sale import MAX_QTY

log = logging.getLogger("posd.api.app")
WEB = Path(__file__).parent / "web"
PAGES = {"cashier": "/", "display": "/display", "tech": "/tech"}
PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def notice(status: int, title: str, text: str) -> HTMLResponse:
    """A small page for a browser that is not (or no longer) paired."""
    page = (
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{html.escape(title)}</title><body style='font:20px system-ui;margin:2em'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    )
    return HTMLResponse(page, status_code=status, headers=PAGE_HEADERS)


def create_app(
    till: TillService,
    token: str,
    *,
    port: int,
    sessions: SessionStore,
    tech: TechService | None = None,
) -> Starlette:
    """The API over ``till`` answering on ``port``; ``token`` is the bearer token (every scope)."""
    access = Access(token, sessions)
    hub = EventHub(till)

    def route(handler: Callable[[Request], Awaitable[Any]], scope: str | None):
        async def endpoint(request: Request) -> Response:
            if scope is not None:
                access.require(request, scope)
            result = await handler(request)
            if isinstance(result, (Response, EventStream)):
                return result
            return JSONResponse(result)

        return endpoint

    async def status(request: Request) -> dict[str, Any]:
        return await asyncio.to_thread(till.status)

    async def openapi(request: Request) -> dict[str, Any]:
        return spec()

    async def scan(request: Request) -> dict[str, Any]:
        data = await inputs.body(request, "code")
        code = inputs.text(data, "code", inputs.MAX_CODE)
        if is_pass(code):  # a membership pass may read the chain: not on the event loop (§11)
            return await asyncio.to_thread(till.member, code)
        return till.scan(code, inputs.integer(data, "qty", 1, MAX_QTY, 1, "bad_qty"))

    async def member(request: Request) -> dict[str, Any]:
        data = await inputs.body(request, "pass")
        return await asyncio.to_thread(till.member, inputs.text(data, "pass", inputs.MAX_CODE))

    async def sale(request: Request) -> dict[str, Any]:
        return till.sale()

    async def void_line(request: Request) -> dict[str, Any]:
        data = await inputs.body(request, "line")
        return till.void_line(inputs.integer(data, "line", 0, inputs.MAX_LINE))

    async def cancel(request: Request) -> dict[str, Any]:
        await inputs.body(request)
        return till.cancel()

    async def pay(request: Request) -> Any:
        data = await inputs.body(request, "tender")
        tender = inputs.text(data, "tender", 32)
        if tender == "dsg" and "amount" not in data:  # the shopper's wallet pays (DESIGN §10)
            return await payments_api.start(till, request)
        inputs.fields(data, "amount")
        reference = inputs.text(data, "reference", inputs.MAX_TEXT, default="")
        done = await asyncio.to_thread(till.pay, tender, inputs.amount(data), reference)
        if done is None:
            return {"complete": False, **till.sale()}
        return completed_json(done, await asyncio.to_thread(till.claim_url, done.seq))

    async def refund(request: Request) -> dict[str, Any]:
        seq = inputs.seq_param(request)
        await inputs.body(request)
        await asyncio.to_thread(till.refund, seq)
        return {"seq": seq, "refunded": True}

    async def reprint(request: Request) -> dict[str, Any]:
        seq = inputs.seq_param(request)
        await inputs.body(request)
        job = await asyncio.to_thread(till.reprint, seq)
        return {"seq": seq, "job": job, "queued": True}

    async def queue_view(request: Request) -> dict[str, Any]:
        return await asyncio.to_thread(till.queue)

    async def events(request: Request) -> EventStream:
        return EventStream(hub, hub.open())

    async def metrics(request: Request) -> Response:
        return Response(await asyncio.to_thread(till.metrics), media_type=CONTENT_TYPE_LATEST)

    def page(name: str, scope: str, media_type: str = "text/html"):
        async def serve(request: Request) -> Response:
            have = access.scope(request)
            if have is None:
                return notice(
                    401,
                    "This screen is not paired",
                    f"On the till, run: posd pair --scope {scope} — and open the URL it prints.",
                )
            if rank(have) < rank(scope):
                return notice(
                    403,
                    f"This screen is paired as {have}",
                    f"This page needs {scope}: run posd pair --scope {scope} and open its URL.",
                )
            return FileResponse(WEB / name, media_type=media_type, headers=PAGE_HEADERS)

        return serve

    async def pair(request: Request) -> Response:
        """Swap a single-use pairing code for a scoped session cookie, then open its page."""
        if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            return notice(
                403, "Pairing refused", "Open the pairing URL directly, not from another site."
            )
        code = request.query_params.get("code", "")
        found = await asyncio.to_thread(sessions.redeem, code[:64]) if code else None
        if found is None:
            return notice(
                400,
                "Pairing code not valid",
                "The code is wrong, used or expired (codes last 5 minutes and work once). "
                "Run posd pair again.",
            )
        session, scope = found
        response = RedirectResponse(PAGES[scope], status_code=303, headers=PAGE_HEADERS)
        response.set_cookie(**session_cookie(session, scope))
        log.info("a %s page was paired", scope)
        return response

    post = ["POST"]
    routes = [
        Route("/api/status", route(status, None)),
        Route("/api/openapi.json", route(openapi, "display")),
        Route("/api/scan", route(scan, "cashier"), methods=post),
        Route("/api/sale", route(sale, "display")),
        Route("/api/sale/void-line", route(void_line, "cashier"), methods=post),
        Route("/api/sale/member", route(member, "cashier"), methods=post),
        Route("/api/sale/cancel", route(cancel, "cashier"), methods=post),
        Route("/api/sale/pay", route(pay, "cashier"), methods=post),
        Route("/api/sales/{seq}/refund", route(refund, "tech"), methods=post),
        Route("/api/sales", route(sales_ext.external_sale(till), "cashier"), methods=post),
        Route(
            "/api/drawer/open", route(sales_ext.open_drawer(till, access), "cashier"), methods=post
        ),
        Route("/api/receipts/{seq}/reprint", route(reprint, "cashier"), methods=post),
        Route("/api/queue", route(queue_view, "display")),
        Route("/api/payments", route(lambda r: payments_api.listing(till, r), "tech")),
        Route("/api/payments/{id}", route(lambda r: payments_api.show(till, r), "cashier")),
        Route(
            "/api/payments/{id}/cancel",
            route(lambda r: payments_api.cancel(till, r), "cashier"),
            methods=post,
        ),
        Route("/api/payments/{id}/qr.svg", route(payment_qr.handler(till.payment), "display")),
        Route("/api/events", route(events, "display")),
        Route("/metrics", metrics),
        Route("/pair", pair),
        Route("/", page("cashier.html", "cashier")),
        Route("/display", page("display.html", "display")),
        Route("/tech", page("tech.html", "tech")),
        # the pages' one shared event stream helper (any paired page may load it)
        Route("/events.js", page("events.js", "display", "text/javascript")),
        *tech_routes(tech, route),  # report, test print, recent events (posd/api/tech.py)
    ]
    return Starlette(
        routes=routes,
        exception_handlers=error_handlers(log),
        middleware=[Middleware(Guard, port=port)],
    )


def pair_url(port: int, code: str) -> str:
    """The URL `posd pair` prints: opened on the till, it pairs that browser."""
    return f"http://127.0.0.1:{port}/pair?code={code}"
