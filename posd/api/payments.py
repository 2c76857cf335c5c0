"""The DSG payment routes (DESIGN §7, §10): start, follow, cancel, list.

A request remembers who started it (a digest of the bearer token or of the page's session
cookie): only that caller gets the sale's ``claim_url`` when it polls the paid request.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from posd.api import inputs
from posd.api.port import TillService
from posd.api.security import SCOPES, bearer, cookie_name
from posd.errors import BadInput
from posd.till.dsg.state import LIST_STATES

_ID = re.compile(r"pay_[0-9a-f]{16}")


def caller(request: Request) -> str:
    """Who is asking, as a digest: the bearer token, else the page's session cookies."""
    token = bearer(request)
    if token is not None:
        secret = "bearer:" + token
    else:
        secret = "session:" + "|".join(request.cookies.get(cookie_name(s), "") for s in SCOPES)
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def payment_id(request: Request) -> str:
    raw = request.path_params["id"]
    if not _ID.fullmatch(raw):
        raise BadInput("a payment id looks like pay_ and 16 hex digits", "bad_payment_id")
    return raw


async def start(till: TillService, request: Request) -> JSONResponse:
    """``POST /api/sale/pay {"tender": "dsg"}`` → 202 ``{"payment": {...}}``."""
    out = await asyncio.to_thread(till.start_dsg, caller(request))
    return JSONResponse({"payment": out}, status_code=202)


async def show(till: TillService, request: Request) -> dict[str, Any]:
    return await asyncio.to_thread(till.payment, payment_id(request), caller(request))


async def cancel(till: TillService, request: Request) -> dict[str, Any]:
    pid = payment_id(request)
    await inputs.body(request)
    return await asyncio.to_thread(till.cancel_payment, pid)


async def listing(till: TillService, request: Request) -> dict[str, Any]:
    raw = request.query_params.get("state", "")[:256]
    wanted = [s for s in raw.split(",") if s]
    unknown = [s for s in wanted if s not in LIST_STATES]
    if unknown:
        raise BadInput(
            f"unknown state {unknown[0][:32]!r} (one of {', '.join(sorted(LIST_STATES))})",
            "bad_state",
        )
    return await asyncio.to_thread(till.payments, wanted)
