"""The gateway's refusals (DESIGN §9): PosdError subclasses with stable codes, answered as JSON
``{"error": {"code", "message"}}`` like the till API."""

from __future__ import annotations

from posd.errors import BadInput, Conflict, PosdError, Unavailable


class BadSignature(BadInput):
    """The signature does not recover to the receipt's claim address (e.g. another recipient)."""

    code = "bad_signature"


class RateLimited(PosdError):
    code = "rate_limited"
    http_status = 429


class RelayUnavailable(Unavailable):
    """Out of gas funds, node down, or the store's gas budget for today is spent."""

    code = "relay_unavailable"


class Paused(Unavailable):
    code = "paused"


class StoreNotServed(PosdError):
    """The receipt's store is not on ``[gateway] stores``."""

    code = "store_not_served"
    http_status = 403


class BelowMinimum(Conflict):
    """The receipt's amount is under ``[gateway] min_amount``."""

    code = "below_min_amount"


class RequestTimeout(PosdError):
    """A claim's body did not arrive within ``[gateway] request_timeout_s`` (a slow sender)."""

    code = "request_timeout"
    http_status = 408
