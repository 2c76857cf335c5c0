"""Reading a request at the API's edge: JSON bodies, bounded integers, strings, path seqs.

Everything a client sends is checked here before the till sees it (DESIGN §7): a field of the
wrong type, a JSON float or bool where an integer belongs, a seq outside 1..2^63-1, an amount
outside 0..2^48-1, a string that is too long or not encodable — each is a 400 with a code and
a message naming the field, never a 500 further in (SQLite cannot hold an int over 2^63).
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from posd.errors import BadInput

MAX_SEQ = 2**63 - 1
MAX_AMOUNT = 2**48 - 1  # uint48, the proof's amount (DESIGN §2)
MAX_LINE = 10_000
MAX_CODE = 256  # DESIGN §7: a membership pass is 168
MAX_TEXT = 128
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: "²".isdigit() is True, int("1_0") is 10


async def body(request: Request, *required: str) -> dict[str, Any]:
    """The JSON object in the body (empty body = {}); ``required`` fields must be present."""
    raw = await request.body()
    if not raw:
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadInput(f"request body is not JSON: {exc}", "bad_json") from None
        except RecursionError:
            raise BadInput("request body is nested too deeply", "bad_json") from None
    if not isinstance(data, dict):
        raise BadInput("request body must be a JSON object", "bad_json")
    return fields(data, *required)


def fields(data: dict[str, Any], *required: str) -> dict[str, Any]:
    """``data``, once every ``required`` field is present (else 400 missing_field)."""
    for name in required:
        if name not in data:
            raise BadInput(f"missing field {name!r}", "missing_field")
    return data


def integer(
    data: dict[str, Any],
    name: str,
    low: int,
    high: int,
    default: int | None = None,
    code: str = "out_of_range",
) -> int:
    """An integer field in ``low..high`` (else 400 ``code``): no float (5.0), bool or string."""
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"field {name!r} must be an integer, got {_show(value)}", "bad_field")
    if not low <= value <= high:
        raise BadInput(f"field {name!r} must be within {low}..{high}, got {_show(value)}", code)
    return value


def amount(data: dict[str, Any], name: str = "amount") -> int:
    return integer(data, name, 0, MAX_AMOUNT)


def text(data: dict[str, Any], name: str, limit: int = MAX_TEXT, default: str | None = None) -> str:
    """A string field of at most ``limit`` characters that SQLite and UTF-8 can hold."""
    value = data.get(name, default)
    if not isinstance(value, str):
        raise BadInput(f"field {name!r} must be a string, got {_show(value)}", "bad_field")
    if len(value) > limit:
        raise BadInput(f"field {name!r} is over {limit} characters", "too_long")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"field {name!r} is not valid Unicode text", "bad_field") from None
    if "\x00" in value:
        raise BadInput(f"field {name!r} holds a NUL character", "bad_field")
    return value


def seq_param(request: Request) -> int:
    """The ``{seq}`` of a path: ASCII digits, 1..2^63-1."""
    raw = request.path_params["seq"]
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_SEQ:
        raise BadInput(f"seq must be a whole number within 1..{MAX_SEQ}", "bad_seq")
    return int(raw)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
