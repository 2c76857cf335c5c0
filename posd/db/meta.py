"""Typed accessors for the ``meta`` table: every key posd keeps there, named once.

The table is a string→string map (SQLite ``meta``); each :class:`Key` says how its value is
decoded and what a missing key means, so callers never parse meta strings by hand.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from posd.db.store import Store

T = TypeVar("T")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class Key(Generic[T]):
    name: str
    decode: Callable[[str], T]
    encode: Callable[[T], str]
    default: T


def _opt_str(name: str) -> Key[str | None]:
    return Key(name, str, str, None)


def _opt_int(name: str) -> Key[int | None]:
    return Key(name, _int, str, None)


def _int_key(name: str, default: int = 0) -> Key[int]:
    return Key(name, _int, str, default)


def _json_key(name: str) -> Key[dict[str, Any]]:
    return Key(name, _json, _dump_json, {})


# -- till identity and the sale sequence (DESIGN §2)
TILL_ADDRESS = _opt_str("till_address")
SEED_ID = _opt_str("seed_id")
PENDING_SEED_ID = _opt_str("pending_seed_id")
NEXT_SEQ = _int_key("next_seq")
LAST_TIME = _int_key("last_time")
# {"from", "to", "at"}: seqs the database lost, filler records owed once nextSeq is read
SEQ_GAP = _json_key("seq_gap")
SEQ_CASE = _json_key("seq_case")  # the last L/H/C decision (posd diag names it)
CHAIN_NEXT = _json_key("chain_next")  # {"next_seq", "at"}: nextSeq(till) as last read
# -- settings learnt or generated once
CHAIN_ID = _opt_int("chain_id")
API_TOKEN = _opt_str("api_token")
CATALOG_VERSION = _int_key("catalog_version")
# -- the flusher's persisted state (posd/chain)
FLUSH_LINK = _json_key("flush_link")
FLUSH_HALT = _json_key("flush_halt")
FLUSH_ALERT = _json_key("flush_alert")
FLUSH_BALANCE = _json_key("flush_balance")
FLUSH_LAST_ERROR = _opt_str("flush_last_error")
FLUSH_GAS_PER_RECORD = Key("flush_gas_per_record", _float, lambda v: str(round(v, 1)), 0.0)
FLUSH_RECONCILED_AT = Key("flush_reconciled_at", _float, str, 0.0)
FLUSH_SCAN_FROM = _int_key("flush_scan_from")

_UPSERT = (
    "INSERT INTO meta(key, value) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)


class Meta:
    """Read and write typed meta keys, alone or inside the caller's transaction (``conn``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: Key[T], conn: sqlite3.Connection | None = None) -> T:
        sql, args = "SELECT value FROM meta WHERE key = ?", (key.name,)
        if conn is not None:
            row = conn.execute(sql, args).fetchone()
        else:
            row = self.store.one(sql, args)
        return key.decode(row[0]) if row is not None else key.default

    def has(self, key: Key[Any]) -> bool:
        return self.store.one("SELECT 1 FROM meta WHERE key = ?", (key.name,)) is not None

    def set(self, key: Key[T], value: T, conn: sqlite3.Connection | None = None) -> None:
        args = (key.name, key.encode(value))
        if conn is not None:
            conn.execute(_UPSERT, args)
        else:
            self.store.execute(_UPSERT, args)

    @staticmethod
    def set_default(conn: sqlite3.Connection, key: Key[T], value: T) -> None:
        """Write ``value`` unless the key is already set (in the caller's transaction)."""
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
            (key.name, key.encode(value)),
        )

    def delete(self, key: Key[Any], conn: sqlite3.Connection | None = None) -> bool:
        """Remove a key; True when it was there."""
        sql, args = "DELETE FROM meta WHERE key = ?", (key.name,)
        cur = conn.execute(sql, args) if conn is not None else self.store.execute(sql, args)
        return cur.rowcount > 0

    def many(self, *keys: Key[Any]) -> dict[str, Any]:
        """Several keys read at once (one statement, so one consistent snapshot)."""
        marks = ", ".join("?" for _ in keys)
        rows = self.store.query(
            f"SELECT key, value FROM meta WHERE key IN ({marks})", tuple(k.name for k in keys)
        )
        found = {r[0]: r[1] for r in rows}
        return {k.name: k.decode(found[k.name]) if k.name in found else k.default for k in keys}

    @staticmethod
    def compare_and_set(conn: sqlite3.Connection, key: Key[T], expected: T, new: T) -> bool:
        """Set ``key`` to ``new`` only where it holds ``expected`` (the sale writer's seq guard)."""
        return (
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = ? AND value = ?",
                (key.encode(new), key.name, key.encode(expected)),
            ).rowcount
            == 1
        )

    @staticmethod
    def increment(conn: sqlite3.Connection, key: Key[int]) -> None:
        """Add one to an integer key (1 when missing), inside the caller's transaction."""
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (key.name,),
        )
