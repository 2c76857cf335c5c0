"""The gateway's HTTP routes (DESIGN §9), a starlette app over a :class:`GatewayPort`.

``GET /`` and ``/c`` serve the claim page (``claim/dist/index.html``, under a strict
Content-Security-Policy), other paths its static assets; ``GET /api/config``, ``GET
/api/receipts/{till}/{seq}`` (its own rate limit per client IP), ``POST /api/claims`` (rate limit
per client IP, 16 KiB body that must arrive in time, strict JSON), ``GET /metrics``. Errors are
``{"error": {"code", "message"}}`` as in the till API; a missing page build is a clear 503 page,
never a traceback. CORS only for ``[gateway] cors_origins``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from posd.chain.receipt_state import ReceiptState
from posd.errors import BadInput, NotFound, PosdError, TooLarge
from posd.gateway.chain import parse_address
from posd.gateway.errors import RequestTimeout
from posd.gateway.limits import MAX_BODY, ClientIp, TokenBucket, check_length
from posd.gateway.metrics import GatewayMetrics
from posd.gateway.relay import parse_seq

log = logging.getLogger("posd.gateway.http")

NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8">
<title>Claim page not built</title><body><h1>The claim page is not built</h1>
<p>This gateway has no claim page to serve yet. Whoever runs it: <code>cd claim &amp;&amp;
npm ci &amp;&amp; npm run build</code>, or point <code>[gateway] page_dir</code> at a build.</p>
<p>The API still works: <a href="/api/config">/api/config</a>.</p></body></html>"""
NOT_FOUND = "<!doctype html><title>Not found</title><h1>Not found</h1>"
# The page loads only its own script, styles and images (QR codes as data: URLs), talks only to
# this gateway (a wallet is the injected EIP-1193 provider, not a request to another host) and
# cannot be framed (clickjacking the Claim button).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the fragment never leaves; nor does the path
    "X-Frame-Options": "DENY",
}
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class GatewayPort(Protocol):
    metrics: GatewayMetrics

    def config_json(self) -> dict[str, Any]: ...

    def receipt(self, till: str, seq: int) -> ReceiptState: ...

    def relay_state(self, till: str, seq: int) -> dict[str, Any] | None: ...

    def submit(self, body: Any, client: str) -> dict[str, str]: ...


def _error(exc: PosdError) -> JSONResponse:
    return JSONResponse(exc.to_json(), status_code=exc.http_status)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # parsers disagree on which one wins: refuse instead of guessing
            raise BadInput(f"the body repeats the key {key[:40]!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise BadInput(f"the body holds {name}, which is not JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON: no duplicate keys, no NaN/Infinity; numbers of any size stay exact."""
    try:
        return json.loads(
            body or b"null", object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadInput("the body is not JSON") from None


async def _read_body(request: Request) -> bytes:
    check_length(request.headers.get("content-length"))
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise TooLarge(f"body is over the {MAX_BODY}-byte limit")
    return body


async def _read_json(request: Request, timeout_s: float) -> Any:
    try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
        async with asyncio.timeout(timeout_s):
            body = await _read_body(request)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout_s:g} s") from None
    return parse_json(body)


def create_app(
    port: GatewayPort,
    *,
    page_dir: Path,
    claims_per_minute: int = 10,
    lookups_per_minute: int = 300,
    request_timeout_s: float = 10.0,
    trusted_proxies: list[str] | None = None,
    cors_origins: list[str] | None = None,
) -> Starlette:
    bucket = TokenBucket(claims_per_minute)
    lookup_bucket = TokenBucket(lookups_per_minute, "lookups")
    client_ip = ClientIp(trusted_proxies or [])
    page_root = page_dir.resolve()

    def page_file(name: str) -> Response:
        if not (page_root / "index.html").is_file():
            return HTMLResponse(NOT_BUILT, status_code=503, headers=PAGE_HEADERS)
        target = (page_root / name).resolve()
        if page_root not in target.parents or not target.is_file():
            return HTMLResponse(NOT_FOUND, status_code=404, headers=PAGE_HEADERS)
        return FileResponse(target, headers=PAGE_HEADERS)

    async def index(request: Request) -> Response:
        return page_file("index.html")

    async def static(request: Request) -> Response:
        path = request.path_params["path"]
        if path == "api" or path.startswith("api/"):
            raise NotFound(f"no API route {request.url.path}")
        return page_file(path)

    def client_of(request: Request) -> str:
        peer = request.client.host if request.client else ""
        return client_ip.of(peer, request.headers.get("x-forwarded-for"))

    async def config(request: Request) -> Response:
        return JSONResponse(port.config_json(), headers=API_HEADERS)

    async def receipt(request: Request) -> Response:
        lookup_bucket.take(client_of(request))
        till = parse_address(request.path_params["till"], "till")
        seq = parse_seq(request.path_params["seq"])
        st, relay = await run_in_threadpool(
            lambda: (port.receipt(till, seq), port.relay_state(till, seq))
        )
        port.metrics.lookups.labels(str(st.state)).inc()
        body = st.to_json()
        if relay is not None:
            body["relay"] = relay
        return JSONResponse(body, headers=API_HEADERS)

    async def claims(request: Request) -> Response:
        started = time.monotonic()
        client = client_of(request)
        try:
            bucket.take(client)
            body = await _read_json(request, request_timeout_s)
            answer = await run_in_threadpool(port.submit, body, client)
        except PosdError as exc:
            port.metrics.claims.labels(exc.code).inc()
            log.info("event=claim_refused code=%s client=%s", exc.code, client)
            raise
        port.metrics.latency.observe(time.monotonic() - started)
        return JSONResponse(answer, status_code=202, headers=API_HEADERS)

    async def metrics(request: Request) -> Response:
        return Response(port.metrics.render(), media_type="text/plain; version=0.0.4")

    async def posd_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PosdError)
        return _error(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
            return JSONResponse(
                {"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code
            )
        return HTMLResponse(NOT_FOUND, status_code=exc.status_code, headers=PAGE_HEADERS)

    async def internal(request: Request, exc: Exception) -> Response:
        log.error("event=internal_error path=%s error=%s", request.url.path, type(exc).__name__)
        body = {"error": {"code": "internal_error", "message": "the gateway failed; try again"}}
        return JSONResponse(body, status_code=500)

    routes = [
        Route("/", index),
        Route("/c", index),
        Route("/api/config", config),
        Route("/api/receipts/{till}/{seq}", receipt),
        Route("/api/claims", claims, methods=["POST"]),
        Route("/metrics", metrics),
        Route("/{path:path}", static),
    ]
    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type"],
                max_age=600,
            )
        )
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            PosdError: posd_error,
            HTTPException: http_error,
            Exception: internal,
        },
    )
