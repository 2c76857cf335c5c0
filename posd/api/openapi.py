"""The local API described as OpenAPI 3.1 (``GET /api/openapi.json``), for tools and fuzzing.

Served like every /api route but status: to an authenticated caller (any scope). It describes
nothing secret, but DESIGN §7 says every /api route but status needs auth, and one rule with no
exception is easier to check. Bounds here are the API's own (posd.api.inputs), so a client
generated from it sends what the till accepts; the tests fuzz the running daemon from it.
"""

from __future__ import annotations

from typing import Any

from posd.api import sales_ext
from posd.api.inputs import MAX_AMOUNT, MAX_CODE, MAX_LINE, MAX_SEQ, MAX_TEXT
from posd.api.tech import paths as tech_paths
from posd.till.sale import MAX_QTY, TENDERS

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_LINE = {
    "type": "object",
    "properties": {
        "barcode": {"type": "string"},
        "name": {"type": "string"},
        "qty": {"type": ["integer", "number", "string"]},
        "unit_price": {"type": "integer"},
        "total": {"type": "integer"},
        "tax_rate": {"type": ["integer", "number", "string"]},
    },
}
_SALE = {
    "type": "object",
    "required": ["lines", "total", "paid", "due"],
    "properties": {
        "state": {"type": "string"},
        "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
        "total": {"type": "integer"},
        "paid": {"type": "integer"},
        "due": {"type": "integer"},
        "payments": {"type": "array", "items": {"type": "object"}},
        "member": {"type": ["object", "null"]},
    },
}
_PAID = {
    "type": "object",
    "required": ["complete"],
    "properties": {
        "complete": {"type": "boolean"},
        "seq": {"type": "integer"},
        "total": {"type": "integer"},
        "paid": {"type": "integer"},
        "change": {"type": "integer"},
        "time": {"type": "integer"},
        "claim_address": {"type": "string"},
        "claim_url": {
            "type": "string",
            "description": "Only here, only to the caller that completed the sale.",
        },
    },
}
_PAY_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^pay_[0-9a-f]{16}$"},
}
_PAY_STATES = {
    "name": "state",
    "in": "query",
    "required": False,
    "description": "Comma-separated: open, awaiting, confirming, underpaid, paid, overpaid, "
    "expired, cancelled, refund, late, unmatched, dust (400 bad_state names an unknown one)",
    "schema": {"type": "string", "examples": ["late,overpaid,unmatched,refund"]},
}
_WEI = {"type": "string", "pattern": "^[0-9]+$", "description": "DSG wei, a decimal string"}
_PAYMENT = {  # DESIGN §10; posd.till.dsg.service.public
    "type": "object",
    "required": ["id", "state", "uri", "amount_wei", "discount", "expires_at"],
    "properties": {
        "id": {"type": "string", "pattern": "^pay_[0-9a-f]{16}$"},
        "state": {
            "type": "string",
            "enum": ["awaiting", "confirming", "underpaid", "paid", "expired", "cancelled"],
        },
        "uri": {"type": "string", "description": "EIP-681: ethereum:<token>@<chainId>/transfer…"},
        "amount_wei": _WEI,
        "discount": {"type": "integer", "description": "the DSG discount, minor units"},
        "expires_at": {"type": "integer"},
        "due": {"type": "integer"},
        "currency": {"type": "string"},
        "received_wei": _WEI,
        "created_at": {"type": "integer"},
        "seq": {"type": "integer", "description": "the sale it completed, once paid"},
        "overpaid_wei": _WEI,
        "claim_url": {"type": "string", "description": "only to the caller that started it"},
        "request_wei": _WEI,
        "dsg": {"type": "string"},
        "tx_hashes": {"type": "array", "items": {"type": "string"}},
    },
}
_TRANSFER = {  # a transfer to refund or assign by hand (posd.db.payments.Transfer)
    "type": "object",
    "required": ["tx_hash", "value_wei", "kind"],
    "properties": {
        "tx_hash": {"type": "string"},
        "log_index": {"type": "integer"},
        "block_number": {"type": "integer"},
        "block_time": {"type": "integer"},
        "from": {"type": "string"},
        "value_wei": _WEI,
        "reference": {"type": "integer"},
        "payment_id": {"type": ["string", "null"]},
        "kind": {
            "type": "string",
            "enum": ["late", "unmatched", "dust", "counted", "refund", "new"],
        },
    },
}
_SEQ = {
    "name": "seq",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SEQ, "examples": [1, 2]},
}
_SCHEMAS = {
    "Error": _ERROR,
    "Line": _LINE,
    "Sale": _SALE,
    "Paid": _PAID,
    "Payment": _PAYMENT,
    "Transfer": _TRANSFER,
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_FAILURES = {
    "400": "bad input (a field, the JSON, a path parameter)",
    "401": "no bearer token or session",
    "403": "a foreign origin, or a session of too narrow a scope",
    "404": "no such product, line, sale or receipt",
    "409": "the till's state forbids it now",
    "413": "body over 64 KiB",
    "415": "body not application/json",
    "503": "a dependency is down, or too many event streams",
}


def _op(summary: str, scope: str | None, ok: dict[str, Any], body: dict | None = None, **extra):
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok}}
    for status, text in _FAILURES.items():
        op["responses"][status] = {"description": text, "content": _json(_ref("Error"))}
    if scope is None:
        op["security"] = []
    else:
        op["description"] = f"Needs the bearer token or a session of scope {scope} or wider."
    if body is not None:
        op["requestBody"] = {"required": bool(body.get("required")), "content": _json(body)}
    op.update(extra)
    return op


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def spec() -> dict[str, Any]:
    sale = {"description": "the open sale", "content": _json(_ref("Sale"))}
    anything = {"description": "ok", "content": _json({"type": "object"})}
    empty = {"type": "object", "maxProperties": 0}
    payment = {"description": "the DSG payment (DESIGN §10)", "content": _json(_ref("Payment"))}
    paths = {
        "/api/status": {"get": _op("Devices, queue counts, chain link state", None, anything)},
        "/api/openapi.json": {"get": _op("This description", "display", anything)},
        "/api/sale": {"get": _op("The open sale", "display", sale)},
        "/api/queue": {"get": _op("Proofs by state, the chain link", "display", anything)},
        # DSG payments (DESIGN §10)
        "/api/payments": {
            "get": _op(
                "DSG payments and stray transfers by state (late, overpaid, unmatched, …)",
                "tech",
                {
                    "description": "payments (with request_wei, dsg, tx_hashes) and transfers",
                    "content": _json(
                        _obj(
                            ["payments", "transfers"],
                            payments={"type": "array", "items": _ref("Payment")},
                            transfers={"type": "array", "items": _ref("Transfer")},
                        )
                    ),
                },
                parameters=[_PAY_STATES],
            )
        },
        "/api/payments/{id}": {
            "get": _op(
                "A DSG payment (claim_url for its starter)",
                "cashier",
                payment,
                parameters=[_PAY_ID],
            )
        },
        "/api/payments/{id}/cancel": {
            "post": _op("Cancel a DSG payment", "cashier", payment, empty, parameters=[_PAY_ID])
        },
        "/api/scan": {
            "post": _op(
                "Add a product by its code (as a hardware scan)",
                "cashier",
                sale,
                _obj(
                    ["code"],
                    code={
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_CODE,
                        "examples": ["4006381333931", "5000112637922", "4000000000006"],
                    },
                    qty={"type": "integer", "minimum": 1, "maximum": MAX_QTY, "default": 1},
                ),
            )
        },
        "/api/sale/void-line": {
            "post": _op(
                "Void a line (0-based index)",
                "cashier",
                sale,
                _obj(["line"], line={"type": "integer", "minimum": 0, "maximum": MAX_LINE}),
            )
        },
        "/api/sale/cancel": {"post": _op("Cancel the open sale", "cashier", sale, empty)},
        "/api/sale/member": {
            "post": _op(
                "Apply a membership pass (dsgm1:…, DESIGN §11): the tier's discount on the sale",
                "cashier",
                sale,
                _obj(
                    ["pass"], **{"pass": {"type": "string", "minLength": 1, "maxLength": MAX_CODE}}
                ),
            )
        },
        "/api/sale/pay": {
            "post": _op(
                "Record a tender; completes the sale once paid",
                "cashier",
                {"description": "paid, or the sale still due", "content": _json(_ref("Paid"))},
                _obj(
                    ["tender"],  # {"tender": "dsg"} alone starts a DSG payment: 202 (§10)
                    tender={"type": "string", "enum": list(TENDERS)},
                    amount={"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT},
                    reference={"type": "string", "maxLength": MAX_TEXT},
                ),
            )
        },
        "/api/sales/{seq}/refund": {
            "post": _op(
                "Zero a pending proof's amount (409 already_committed once sent)",
                "tech",
                anything,
                empty,
                parameters=[_SEQ],
            )
        },
        "/api/receipts/{seq}/reprint": {
            "post": _op("Queue a COPY of a receipt", "cashier", anything, empty, parameters=[_SEQ])
        },
        "/api/payments/{id}/qr.svg": {
            "get": _op(
                "The DSG payment's EIP-681 URI as a QR code (SVG; never a claim URL)",
                "display",
                {
                    "description": "an SVG image",
                    "content": {"image/svg+xml": {"schema": {"type": "string"}}},
                },
                parameters=[_PAY_ID],
            )
        },
        "/api/events": {
            "get": _op(
                "Server-sent events for the pages (bounded number of subscribers)",
                "display",
                {
                    "description": "an event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
            )
        },
    }
    paths["/api/sale/pay"]["post"]["responses"]["202"] = {
        "description": '{"tender": "dsg"} without an amount: a DSG payment request (§10); '
        "409 dsg_unavailable without payout address, chain link or fresh price",
        "content": _json(_obj(["payment"], payment=_ref("Payment"))),
    }
    paths.update(tech_paths(_op, anything))  # the technician's routes (posd/api/tech.py)
    paths.update(sales_ext.openapi_paths(_op, _obj, _ref))  # POS sales, cash drawer (§12)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "posd local API",
            "version": "1",
            "description": "The till's loopback API (DESIGN §7). Host must be 127.0.0.1, "
            "localhost or [::1] with the API's port; mutating bodies are application/json, "
            "at most 64 KiB.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "posd_cashier",
                    "description": "A paired page's cookie: posd_display, posd_cashier or posd_tech.",
                },
            },
            "schemas": _SCHEMAS,
        },
        "paths": paths,
    }
