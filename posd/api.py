"""Local HTTP API (DESIGN §7): loopback only; a bearer token for every mutating route.

Errors are ``{"error": {"code", "message"}}``: 400 bad input, 401 no token, 404 unknown
thing, 409 state conflict. A client's mistake never yields a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import queue
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from posd.outbox import AlreadyCommitted, UnknownSale
from posd.sale import SaleError

if TYPE_CHECKING:
    from posd.daemon import Daemon

log = logging.getLogger("posd.api")
WEB = Path(__file__).parent / "web"
COOKIE = "posd_token"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def body(request: Request, *required: str) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "bad_json", f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "request body must be a JSON object")
    for name in required:
        if name not in data:
            raise ApiError(400, "missing_field", f"missing field {name!r}")
    return data


def integer(data: dict[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "bad_field", f"field {name!r} must be an integer, got {value!r}")
    return value


def create_app(daemon: Daemon) -> Starlette:
    token = daemon.api_token

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        given = (
            header[7:] if header.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
        )
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    def route(handler: Callable[[Request], Awaitable[Any]], mutating: bool = False):
        async def endpoint(request: Request) -> Response:
            if mutating and not authorized(request):
                return error(401, "unauthorized", "send Authorization: Bearer <token>")
            try:
                result = await handler(request)
            except ApiError as exc:
                return error(exc.status, exc.code, exc.message)
            except SaleError as exc:
                return error(exc.status, exc.code, exc.message)
            except UnknownSale as exc:
                return error(404, "unknown_sale", str(exc))
            except AlreadyCommitted as exc:
                return error(409, "already_committed", str(exc))
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        return endpoint

    def seq_param(request: Request) -> int:
        try:
            return int(request.path_params["seq"])
        except ValueError:
            raise ApiError(400, "bad_seq", "seq must be a number") from None

    async def status(request: Request) -> dict[str, Any]:
        return await asyncio.to_thread(daemon.status)

    async def scan(request: Request) -> dict[str, Any]:
        data = await body(request, "code")
        code = data["code"]
        if not isinstance(code, str):
            raise ApiError(400, "bad_field", "field 'code' must be a string")
        daemon.register.scan(code, integer(data, "qty", 1), device="api")
        return daemon.register.sale.to_json()

    async def sale(request: Request) -> dict[str, Any]:
        return daemon.register.sale.to_json()

    async def void_line(request: Request) -> dict[str, Any]:
        data = await body(request, "line")
        daemon.register.void_line(integer(data, "line"))
        return daemon.register.sale.to_json()

    async def cancel(request: Request) -> dict[str, Any]:
        daemon.register.cancel()
        return daemon.register.sale.to_json()

    async def pay(request: Request) -> dict[str, Any]:
        data = await body(request, "tender", "amount")
        tender, reference = data["tender"], data.get("reference", "")
        if not isinstance(tender, str) or not isinstance(reference, str):
            raise ApiError(400, "bad_field", "'tender' and 'reference' must be strings")
        done = await asyncio.to_thread(
            daemon.register.pay, tender, integer(data, "amount"), reference
        )
        if done is None:
            return {"complete": False, **daemon.register.sale.to_json()}
        daemon.spooler.wake()
        daemon.scheduler_hint()
        return {
            "complete": True,
            "seq": done.seq,
            "total": done.total,
            "paid": done.paid,
            "change": done.change,
            "time": done.time,
            "claim_address": done.claim_address,
            "claim_url": daemon.claim_url(done.seq),
        }

    async def refund(request: Request) -> dict[str, Any]:
        seq = seq_param(request)
        await asyncio.to_thread(daemon.outbox.refund, seq)
        return {"seq": seq, "refunded": True}

    async def reprint(request: Request) -> dict[str, Any]:
        seq = seq_param(request)
        job = await asyncio.to_thread(daemon.spooler.reprint, seq)
        return {"seq": seq, "job": job, "queued": True}

    async def queue_view(request: Request) -> dict[str, Any]:
        return await asyncio.to_thread(daemon.queue_status)

    async def events(request: Request) -> StreamingResponse:
        sub = daemon.bus.subscribe()

        async def stream():
            try:
                yield "retry: 2000\n\n"
                idle = 0
                while not daemon.stopping.is_set():
                    try:  # short waits: a stopping daemon is never held up by an open stream
                        event = await asyncio.to_thread(sub.get, True, 1.0)
                    except queue.Empty:
                        idle += 1
                        if idle % 15 == 0:
                            yield ": keep-alive\n\n"
                        continue
                    idle = 0
                    yield f"id: {event['id']}\nevent: {event['kind']}\ndata: {json.dumps(event)}\n\n"
            finally:
                daemon.bus.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def metrics(request: Request) -> Response:
        daemon.refresh_metrics()
        return Response(generate_latest(daemon.metrics_registry), media_type=CONTENT_TYPE_LATEST)

    def page(name: str):
        async def serve(request: Request) -> Response:
            response = FileResponse(WEB / name, media_type="text/html")
            # the page calls the API with this cookie; the token never appears in a URL
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/api")
            return response

        return serve

    async def not_found(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(exc.status_code, codes.get(exc.status_code, "http_error"), exc.detail)

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error(500, "internal", "internal error; see the daemon log")

    routes = [
        Route("/api/status", route(status)),
        Route("/api/scan", route(scan, True), methods=["POST"]),
        Route("/api/sale", route(sale)),
        Route("/api/sale/void-line", route(void_line, True), methods=["POST"]),
        Route("/api/sale/cancel", route(cancel, True), methods=["POST"]),
        Route("/api/sale/pay", route(pay, True), methods=["POST"]),
        Route("/api/sales/{seq}/refund", route(refund, True), methods=["POST"]),
        Route("/api/receipts/{seq}/reprint", route(reprint, True), methods=["POST"]),
        Route("/api/queue", route(queue_view)),
        Route("/api/events", events),
        Route("/metrics", metrics),
        Route("/", page("cashier.html")),
        Route("/tech", page("tech.html")),
    ]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: crash})
