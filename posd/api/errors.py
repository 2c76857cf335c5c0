"""How both listeners (the local API and the POS link) answer an error: ``{"error": {"code",
"message"}}``, every :class:`posd.errors.PosdError` mapped in one place, our own faults logged
and never explained to the caller."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from posd.errors import Internal, PosdError


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def error_handlers(log: logging.Logger, prefix: str = "") -> dict[Any, Any]:
    """Starlette ``exception_handlers``; ``prefix`` starts the crash's log line."""

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(exc.status_code, codes.get(exc.status_code, "http_error"), exc.detail)

    async def posd_error(request: Request, exc: Exception) -> JSONResponse:
        """The one mapping of the error root to HTTP: its status, its code, its message."""
        assert isinstance(exc, PosdError)
        if isinstance(exc, Internal):  # our fault: log it, tell the caller no more than today
            return await crash(request, exc)
        return error(exc.http_status, exc.code, exc.message)

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%sinternal error on %s %s", prefix, request.method, request.url.path)
        return error(500, "internal", "internal error; see the daemon log")

    return {HTTPException: http_error, PosdError: posd_error, Exception: crash}
