"""A till's SQLite database file as an operator handles it: backed up, lost, restored."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def backup(db: Path, to: Path) -> None:
    """Copy ``db`` to ``to`` with SQLite's online backup (safe while a till has it open)."""
    src, dst = sqlite3.connect(db), sqlite3.connect(to)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def remove(db: Path) -> None:
    """Lose the database: the file and its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def restore(db: Path, from_: Path) -> None:
    """Put a backup back over the database (whose newer WAL must not be replayed onto it)."""
    remove(db)
    db.write_bytes(from_.read_bytes())
