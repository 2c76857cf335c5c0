"""The ``[pos_link]`` listener (DESIGN §7, §12): the shop's own POS machine, on the shop's LAN.

A second, restricted app on its own address: ``POST /api/sales`` and ``GET /api/status`` and
nothing else (every other path is 404). Its own bearer token (no cookies, no sessions, no pages),
an IP allow-list checked before anything else (403), the same 64 KiB bound (413) and JSON-only
bodies (415) as the local API. There is no Host allow-list here — the POS addresses the till by
its LAN IP — but a request carrying an ``Origin`` or a cross-site ``Sec-Fetch-Site`` is refused:
no browser page has any business here. Run it with uvicorn's proxy headers off, so the address
checked is the peer's.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from posd.api import sales_ext
from posd.api.errors import error_handlers
from posd.api.port import TillService
from posd.api.security import MAX_BODY, MUTATING, Guard, Unauthorized, bearer

log = logging.getLogger("posd.api.pos_link")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(allow: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(item, strict=False) for item in allow]


class LinkGuard(Guard):
    """The local API's body rules, with the peer's IP allow-listed instead of the Host."""

    def __init__(self, app: ASGIApp, allow: Sequence[str], max_body: int = MAX_BODY) -> None:
        super().__init__(app, port=0, max_body=max_body)
        self.allow = networks(allow)

    def _permitted(self, scope: Scope) -> bool:
        client = scope.get("client")
        try:
            ip = ipaddress.ip_address(client[0]) if client else None
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip is not None and any(ip in net for net in self.allow)

    def _check(self, scope: Scope) -> tuple[int, str, str] | None:
        if not self._permitted(scope):
            log.warning("POS link: refused %s", (scope.get("client") or ("?",))[0])
            return 403, "address_not_allowed", "this address is not in [pos_link] allow"
        headers = Headers(scope=scope)
        if scope["method"] != "GET" and (
            headers.getlist("origin")
            or headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site")
        ):
            return 403, "foreign_origin", "browser requests are refused on the POS link"
        # the body rules of the local API, without its Host check: the POS uses the LAN address
        return self._check_body(headers, scope["method"] in MUTATING)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no websockets, no lifespan on the POS link
            return
        await super().__call__(scope, receive, send)


def pos_status(info: dict[str, Any]) -> dict[str, Any]:
    """What the POS machine may know of the till: an allow-list, so a field added to the local
    status never reaches the LAN by default. Never the RPC URL (a provider's API key lives in
    it), the mining address, devices' paths or the cashier's open cart."""
    chain = info.get("chain") or {}
    printer = info.get("printer") or {}
    device = printer.get("printer") or {}
    return {
        "till": info.get("till"),
        "till_name": info.get("till_name"),
        "store": info.get("store"),
        "state": info.get("state"),
        "chain": {"link": chain.get("link"), "chain_id": chain.get("chain_id")},
        "printer": {  # whether a receipt would print (else the POS asks for "print": false)
            "status": device.get("status") or "none",
            "queued": printer.get("queued", 0),
        },
    }


def create_pos_link_app(till: TillService, token: str, allow: Sequence[str]) -> Starlette:
    """The restricted app: the POS's sales and the till's status, behind ``token``."""
    secret = token.encode()

    def require(request: Request) -> None:
        given = (bearer(request) or "").encode()
        if not given or not hmac.compare_digest(given, secret):
            raise Unauthorized("send Authorization: Bearer <the [pos_link] token>")

    sale_handler = sales_ext.external_sale(till)

    async def sales(request: Request) -> JSONResponse:
        require(request)
        return JSONResponse(await sale_handler(request))

    async def status(request: Request) -> JSONResponse:
        require(request)
        return JSONResponse(pos_status(await asyncio.to_thread(till.status)))

    return Starlette(
        routes=[
            Route("/api/sales", sales, methods=["POST"]),
            Route("/api/status", status, methods=["GET"]),
        ],
        exception_handlers=error_handlers(log, "POS link: "),
        middleware=[Middleware(LinkGuard, allow=allow)],
    )
