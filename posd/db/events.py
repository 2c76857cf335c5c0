"""The append-only event log (table ``events``): what happened, for audits and `posd diag`.

Triggers in the schema refuse UPDATE and DELETE, so this module only appends and counts.
``append`` takes a bare connection so a caller can log inside its own transaction, and so
:mod:`posd.db.store` can offer its ``log_event`` shim without importing anything back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

_INSERT = "INSERT INTO events(at, kind, data) VALUES (?, ?, ?)"


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
