"""Database health for `posd diag`: SQLite's own integrity check (no table of its own)."""

from __future__ import annotations

from posd.db.store import Store


def integrity(store: Store) -> str:
    """``"ok"``, or the first problem SQLite's integrity check found."""
    row = store.one("PRAGMA integrity_check")
    return str(row[0]) if row is not None else "no answer"
