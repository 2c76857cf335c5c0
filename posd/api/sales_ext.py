"""``POST /api/sales`` (a sale rung up on the shop's own POS, DESIGN §12) and
``POST /api/drawer/open`` (the cashier page's "open drawer").

The body is checked here field by field, each mistake a 400 ``bad_request`` naming its path
(``lines[2].qty``); the sale itself is :mod:`posd.till.external`'s. The answer is like pay's
(``seq``, ``total``, ``change``, ``claim_url``) and is the same for an identical retry; with
``"print": false`` it also carries the claim QR as a PNG and as ESC/POS bytes (base64) for the
POS to print on its own receipt.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request

from posd.api import inputs
from posd.api.port import TillService, completed_json
from posd.api.security import Access
from posd.errors import BadInput
from posd.till.external import (
    MAX_EXTERNAL_ID,
    MAX_LINES,
    MAX_PAYMENTS,
    TENDERS,
    ExternalLine,
    ExternalOrder,
)

FIELDS = ("external_id", "lines", "payments", "print", "open_drawer")
MAX_QTY = Decimal(1_000_000)
MAX_PLACES = 3


def _bad(path: str, why: str) -> BadInput:
    return BadInput(f"{path}: {why}", "bad_request")


def _get(data: dict[str, Any], key: str, path: str) -> Any:
    if key not in data:
        raise _bad(path + key, "missing")
    return data[key]


def _text(value: Any, path: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(path, "must be a non-empty string")
    if len(value) > limit:
        raise _bad(path, f"is over {limit} characters")
    if not value.isprintable():
        raise _bad(path, "holds control or unprintable characters")
    return value


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(path, "must be an integer number of minor units")
    if not low <= value <= high:
        raise _bad(path, f"must be within {low}..{high}")
    return value


def _decimal(value: Any, path: str, low: Decimal, high: Decimal, zero_ok: bool) -> Decimal:
    """An integer or a decimal with up to 3 places (a JSON number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(path, "must be a number (an integer or up to 3 decimal places)")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise _bad(path, "is not a finite number") from None
    if not number.is_finite():
        raise _bad(path, "is not a finite number")
    if number != number.quantize(Decimal(1).scaleb(-MAX_PLACES), rounding="ROUND_DOWN"):
        raise _bad(path, f"has more than {MAX_PLACES} decimal places")
    if not (low <= number <= high) or (number == 0 and not zero_ok):
        shown = f"greater than 0 and at most {high}" if not zero_ok else f"within {low}..{high}"
        raise _bad(path, f"must be {shown}")
    return number


def _flag(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise _bad(key, "must be true or false")
    return value


def _line(line: Any, path: str) -> ExternalLine:
    if not isinstance(line, dict):
        raise _bad(path, "must be an object with name, qty, unit_price, tax_rate")
    extra = sorted(set(line) - {"name", "qty", "unit_price", "tax_rate"})
    if extra:
        raise _bad(f"{path}.{extra[0]}", "unknown field")
    name, qty, price, rate = (
        _get(line, key, path + ".") for key in ("name", "qty", "unit_price", "tax_rate")
    )
    return ExternalLine(
        name=_text(name, path + ".name", inputs.MAX_TEXT),
        qty=_decimal(qty, path + ".qty", Decimal(0), MAX_QTY, zero_ok=False),
        unit_price=_int(price, path + ".unit_price", 0, inputs.MAX_AMOUNT),
        tax_rate=_decimal(rate, path + ".tax_rate", Decimal(0), Decimal(100), zero_ok=True),
    )


def parse_order(data: dict[str, Any]) -> ExternalOrder:
    """A checked order from a JSON body; BadInput naming the first wrong field."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise _bad(unknown[0], f"unknown field (expected {', '.join(FIELDS)})")
    external_id = _text(_get(data, "external_id", ""), "external_id", MAX_EXTERNAL_ID)
    lines = _get(data, "lines", "")
    if not isinstance(lines, list) or not 1 <= len(lines) <= MAX_LINES:
        raise _bad("lines", f"must be a list of 1..{MAX_LINES} lines")
    items = [_line(line, f"lines[{i}]") for i, line in enumerate(lines)]
    payments = _get(data, "payments", "")
    if not isinstance(payments, list) or not 1 <= len(payments) <= MAX_PAYMENTS:
        raise _bad("payments", f"must be a list of 1..{MAX_PAYMENTS} payments")
    tenders = []
    for i, payment in enumerate(payments):
        path = f"payments[{i}]"
        if not isinstance(payment, dict):
            raise _bad(path, "must be an object with tender and amount")
        extra = sorted(set(payment) - {"tender", "amount"})
        if extra:
            raise _bad(f"{path}.{extra[0]}", "unknown field")
        tender = _get(payment, "tender", path + ".")
        if tender == "dsg":
            raise _bad(path + ".tender", "dsg is paid at the till (POST /api/sale/pay), not here")
        if tender not in TENDERS:
            raise _bad(path + ".tender", f"must be one of {', '.join(TENDERS)}")
        amount = _int(_get(payment, "amount", path + "."), path + ".amount", 1, inputs.MAX_AMOUNT)
        tenders.append((tender, amount))
    return ExternalOrder(
        external_id=external_id,
        lines=tuple(items),
        payments=tuple(tenders),
        print=_flag(data, "print", True),
        open_drawer=_flag(data, "open_drawer", False),
    )


def external_sale(till: TillService):
    """The ``POST /api/sales`` handler over ``till``."""

    async def handle(request: Request) -> dict[str, Any]:
        order = parse_order(await inputs.body(request))
        done = await asyncio.to_thread(till.external_sale, order)
        url = await asyncio.to_thread(till.claim_url, done.seq)
        answer: dict[str, Any] = {
            **completed_json(done, url),
            "external_id": order.external_id,
            "print": order.print,
        }
        if not order.print:
            answer.update(await asyncio.to_thread(_qr_codes, url))
        return answer

    return handle


def _qr_codes(url: str) -> dict[str, str]:
    from posd.receipt.qr import b64, qr_escpos, qr_png  # PIL and escpos: only when asked

    return {"qr_png_base64": b64(qr_png(url)), "qr_escpos_base64": b64(qr_escpos(url))}


def caller(request: Request, access: Access) -> dict[str, str]:
    """Who asked, for the event log: the paired session's scope and a short id (the first 12
    hex digits of the SHA-256 the sessions table keys it by), or the bearer token — never a
    token or cookie itself."""
    scope, session = access.who(request)
    return {"scope": scope or "", "session": session}


def open_drawer(till: TillService, access: Access):
    """The ``POST /api/drawer/open`` handler: kick now, logged with who asked and when."""

    async def handle(request: Request) -> dict[str, Any]:
        await inputs.body(request)
        # route() has just asked the same: Access's cache answers without the database
        return await asyncio.to_thread(till.open_drawer, caller(request, access))

    return handle


def openapi_paths(op, obj, ref) -> dict[str, Any]:
    """This module's routes for :func:`posd.api.openapi.spec` (its ``_op``, ``_obj``, ``_ref``)."""
    line = obj(
        ["name", "qty", "unit_price", "tax_rate"],
        name={"type": "string", "minLength": 1, "maxLength": inputs.MAX_TEXT},
        qty={"type": "number", "exclusiveMinimum": 0, "maximum": int(MAX_QTY), "multipleOf": 0.001},
        unit_price={"type": "integer", "minimum": 0, "maximum": inputs.MAX_AMOUNT},
        tax_rate={"type": "number", "minimum": 0, "maximum": 100},
    )
    payment = obj(
        ["tender", "amount"],
        tender={"type": "string", "enum": list(TENDERS)},
        amount={"type": "integer", "minimum": 1, "maximum": inputs.MAX_AMOUNT},
    )
    body = obj(
        ["external_id", "lines", "payments"],
        external_id={"type": "string", "minLength": 1, "maxLength": MAX_EXTERNAL_ID},
        lines={"type": "array", "minItems": 1, "maxItems": MAX_LINES, "items": line},
        payments={"type": "array", "minItems": 1, "maxItems": MAX_PAYMENTS, "items": payment},
        print={"type": "boolean", "default": True},
        open_drawer={"type": "boolean", "default": False},
    )
    paid = {"description": "the recorded sale (the same again for a retry)", "content": {
        "application/json": {"schema": ref("Paid")}}}  # fmt: skip
    anything = {
        "description": "ok",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    return {
        "/api/sales": {
            "post": op(
                "A sale rung up on the shop's own POS: proven and printed once per external_id "
                "(409 external_id_conflict for another body; 400 payment_mismatch)",
                "cashier",
                paid,
                body,
            )
        },
        "/api/drawer/open": {
            "post": op(
                "Open the cash drawer (logged with the session and time); 409 no_drawer, "
                "409 drawer_busy (its printer is busy with a receipt), 503 drawer_failed",
                "cashier",
                anything,
                {"type": "object", "maxProperties": 0},
            )
        },
    }
