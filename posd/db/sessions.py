"""Paired pages (DESIGN §7): single-use pairing codes and the sessions they swap for.

Owner of the tables ``pair_codes`` and ``sessions``. Only SHA-256 hashes are stored, never a raw
code or session token, so a copy of the database pairs nothing. `posd pair` (another process)
adds a code; the daemon redeems it: the code is deleted and a session of its scope is created in
the same transaction, so a code works once. Each wrong guess counts against every open code and
voids them all after :data:`MAX_FAILURES`, so a code (~50 bits) cannot be brute-forced in its
five minutes; a voided code only means running `posd pair` again.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from posd.db.store import Store
from posd.errors import BadInput

SCOPES = ("display", "cashier", "tech")  # each includes what the ones before it may do
CODE_TTL_S = 300
MAX_FAILURES = 5
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: a code may be typed
CODE_LENGTH = 10


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_code(code: str) -> str | None:
    """The code as stored (upper case, dashes and spaces dropped), or None if it cannot be one."""
    text = code.replace("-", "").replace(" ", "").upper()
    if len(text) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in text):
        return None
    return text


@dataclass(frozen=True)
class NewCode:
    code: str
    scope: str
    expires_at: float


class Sessions:
    """Pairing codes and page sessions in the till database (any process may use it)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def new_code(self, scope: str, ttl_s: float = CODE_TTL_S) -> NewCode:
        if scope not in SCOPES:
            raise BadInput(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}", "bad_scope")
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        now = time.time()
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM pair_codes WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT INTO pair_codes(code_hash, scope, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (_hash(code), scope, now, now + ttl_s),
            )
        return NewCode(code, scope, now + ttl_s)

    def redeem(self, code: str) -> tuple[str, str] | None:
        """Swap a live code for ``(session_token, scope)``; None (and a strike) if it is wrong."""
        norm = normalize_code(code)
        if norm is None:
            return None
        now = time.time()
        with self.store.transaction() as conn:
            conn.execute(
                "DELETE FROM pair_codes WHERE expires_at <= ? OR failures >= ?",
                (now, MAX_FAILURES),
            )
            row = conn.execute(
                "SELECT scope FROM pair_codes WHERE code_hash = ?", (_hash(norm),)
            ).fetchone()
            if row is None:
                conn.execute("UPDATE pair_codes SET failures = failures + 1")
                conn.execute("DELETE FROM pair_codes WHERE failures >= ?", (MAX_FAILURES,))
                return None
            conn.execute("DELETE FROM pair_codes WHERE code_hash = ?", (_hash(norm),))
            token = secrets.token_urlsafe(32)
            conn.execute(
                "INSERT INTO sessions(token_hash, scope, created_at) VALUES (?, ?, ?)",
                (_hash(token), row["scope"], now),
            )
        return token, row["scope"]

    def scope_of(self, token: str) -> str | None:
        """The scope of a live session token, None for anything else."""
        if not token or len(token) > 128:
            return None
        row = self.store.one(
            "SELECT scope FROM sessions WHERE token_hash = ? AND revoked = 0", (_hash(token),)
        )
        return None if row is None else row["scope"]

    def revoke_all(self) -> int:
        """Unpair every page (a lost or replaced terminal); returns how many sessions ended."""
        return self.store.execute("UPDATE sessions SET revoked = 1 WHERE revoked = 0").rowcount
