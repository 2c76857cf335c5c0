"""Membership at the till (tables ``member_tiers``, ``member_passes``): their one owner.

``member_tiers`` caches ``tierOf(member)`` per staking contract with the time it was read, so the
till keeps its members' discounts across a restart and while the chain is unreachable.
``member_passes`` lists the passes used at this till (by the hash of the pass: the signature is
never stored) until they expire. A completed sale's member discount is written with the sale,
as a ``member_discount`` event in its transaction; ``sale_member`` finds it by the sale's seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from posd.db import events
from posd.db.store import Store

SALE_EVENT = "member_discount"  # the event kind a completed sale's member discount is logged as


@dataclass(frozen=True)
class CachedTier:
    tier: int
    read_at: float


class Members:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- tier cache -----------------------------------------------------------------------------
    def cached_tier(self, staking: str, member: str) -> CachedTier | None:
        row = self.store.one(
            "SELECT tier, read_at FROM member_tiers WHERE staking = ? AND member = ?",
            (staking.lower(), member.lower()),
        )
        return CachedTier(int(row[0]), float(row[1])) if row else None

    def remember_tier(self, staking: str, member: str, tier: int, read_at: float) -> None:
        self.store.execute(
            "INSERT INTO member_tiers(staking, member, tier, read_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(staking, member) DO UPDATE SET tier = excluded.tier, "
            "read_at = excluded.read_at WHERE excluded.read_at >= member_tiers.read_at",
            (staking.lower(), member.lower(), tier, read_at),
        )

    # -- used passes ----------------------------------------------------------------------------
    def use_pass(self, pass_id: str, member: str, valid_until: int, now: float) -> bool:
        """Record a pass as used; False when it was used before (and has not expired)."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM member_passes WHERE valid_until < ?", (int(now),))
            cur = conn.execute(
                "INSERT OR IGNORE INTO member_passes(pass_id, member, valid_until, used_at) "
                "VALUES (?, ?, ?, ?)",
                (pass_id, member.lower(), valid_until, now),
            )
            return cur.rowcount == 1

    def pass_used(self, pass_id: str, now: float | None = None) -> bool:
        """Whether the pass is on the used list (and, given ``now``, has not expired)."""
        row = self.store.one(
            "SELECT 1 FROM member_passes WHERE pass_id = ? AND valid_until >= ?",
            (pass_id, -1 if now is None else int(now)),
        )
        return row is not None

    # -- completed sales ------------------------------------------------------------------------
    def sale_member(self, seq: int) -> dict[str, Any] | None:
        """The member discount sale ``seq`` was completed with (None without a member)."""
        data = events.latest(self.store, SALE_EVENT, "seq", seq)
        return data if isinstance(data, dict) else None
