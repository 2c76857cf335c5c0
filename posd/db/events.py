"""The append-only event log (table ``events``): what happened, for audits and `posd diag`.

Triggers in the schema refuse UPDATE and DELETE, so this module only appends, reads and counts.
``append`` takes a bare connection so a caller can log inside its own transaction, and so
:mod:`posd.db.store` can offer its ``log_event`` shim without importing anything back.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Any, Protocol

_INSERT = "INSERT INTO events(at, kind, data) VALUES (?, ?, ?)"
_NAME = re.compile(r"[a-z_]+")


class _Reader(Protocol):  # a Store (not imported: the store imports this module)
    def one(self, sql: str, params: tuple = ...) -> sqlite3.Row | None: ...


def append(conn: sqlite3.Connection, kind: str, data: dict[str, Any] | None = None) -> None:
    """Add one event with the caller's connection (inside its transaction, if one is open)."""
    conn.execute(_INSERT, (time.time(), kind, json.dumps(data or {}, sort_keys=True)))


def append_many(conn: sqlite3.Connection, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Several events in one statement (the sale writer's group commit)."""
    if events:
        now = time.time()
        conn.executemany(
            _INSERT, [(now, kind, json.dumps(data, sort_keys=True)) for kind, data in events]
        )


def latest(store: _Reader, kind: str, field: str, value: Any) -> Any | None:
    """The decoded data of the newest ``kind`` event whose ``field`` is ``value``; None if none.

    ``kind`` and ``field`` are the code's own names and stand in the SQL as literals, so a
    partial expression index (``events_member_seq``: kind 'member_discount', ``$.seq``) serves
    the lookup; a bound parameter would not match it.
    """
    if not (_NAME.fullmatch(kind) and _NAME.fullmatch(field)):
        raise ValueError(f"not an event kind and field: {kind!r}, {field!r}")
    row = store.one(
        f"SELECT data FROM events WHERE kind = '{kind}' "  # noqa: S608 - checked names
        f"AND json_extract(data, '$.{field}') = ? ORDER BY id DESC LIMIT 1",
        (value,),
    )
    return None if row is None else decode(row[0])


def decode(text: str) -> Any:
    """An event's data; text that is not JSON (append never writes any) as ``{"raw": text}``."""
    try:
        return json.loads(text)
    except ValueError:
        return {"raw": text}
