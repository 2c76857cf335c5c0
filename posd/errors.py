"""The one error root: every mistake posd reports carries a stable code and where it maps to.

The API answers ``{"error": {"code", "message"}}`` with ``http_status``; the CLI prints
``error: message`` and exits with ``exit_code``; the gateway answers like the API. Subclasses set
the class attributes; an instance may override ``code`` (e.g. ``Conflict("payment_pending", …)``).
This module imports nothing from posd: it is the bottom of the import graph.
"""

from __future__ import annotations


class PosdError(Exception):
    """Root of every error posd raises on purpose (not programming errors)."""

    code: str = "internal_error"
    http_status: int = 500
    exit_code: int = 1

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class BadInput(PosdError):
    """The caller's input is wrong (a field, a file line, a flag): fix it and try again."""

    code = "bad_request"
    http_status = 400
    exit_code = 2


class NotFound(PosdError):
    code = "not_found"
    http_status = 404


class Conflict(PosdError):
    """Valid input, wrong moment: the state of the till or the chain forbids it now."""

    code = "conflict"
    http_status = 409


class TooLarge(PosdError):
    code = "too_large"
    http_status = 413


class Unavailable(PosdError):
    """A dependency (chain link, printer, relay funds) is down; retrying later may work."""

    code = "unavailable"
    http_status = 503


class Internal(PosdError):
    """Something on our side is broken (start-up, a corrupt file): a technician must look."""

    code = "internal_error"
    http_status = 500
