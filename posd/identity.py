"""Which till this database belongs to, and where its sequence numbers continue (DESIGN §2).

A till must never reuse a seq. If the database does not know the key file (database lost or
replaced), the claim seed is replaced — so no printed receipt can match a new sale — and no seq
is issued until the chain has said ``nextSeq(till)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from posd import keys as keyfile
from posd.keys import TillKeys
from posd.store import Store


def bind_new(store: Store, keys: TillKeys) -> None:
    """A key file made together with this database: it has never issued a seq anywhere."""
    with store.transaction() as conn:
        store.set_meta("till_address", keys.address, conn)
        store.set_meta("seed_id", keys.seed_id, conn)
        store.set_meta("next_seq", 1, conn)
        store.log_event("till_bound", {"till": keys.address, "next_seq": 1}, conn=conn)


def is_bound(store: Store, keys: TillKeys) -> bool:
    return (
        store.get_meta("till_address") == keys.address
        and store.get_meta("seed_id") == keys.seed_id
        and store.get_meta("next_seq") is not None
    )


def ensure_bound(
    store: Store,
    keys: TillKeys,
    key_path: Path,
    passphrase: str | None,
    chain_next_seq: Callable[[str], int | None],
) -> tuple[TillKeys, str]:
    """Make the database and key file agree; returns the keys to use and a state word.

    ``chain_next_seq(till)`` answers the contract's ``nextSeq`` or None when offline.
    States: ``ready``; ``unsynced`` (offline: the till must not sell yet).
    """
    if is_bound(store, keys):
        return keys, "ready"
    known_till = store.get_meta("till_address")
    if known_till and known_till != keys.address:
        raise keyfile.KeyFileError(
            f"{store.path} belongs to till {known_till}, but the key file is till {keys.address}: "
            "restore that till's key file, or move the database aside to start this till afresh"
        )
    if known_till == keys.address and store.get_meta("next_seq") is not None:
        # Same till, but a claim seed this database has not seen: seqs continue locally, so no
        # claim key repeats; record the seed and say so in the log.
        store.set_meta("seed_id", keys.seed_id)
        store.log_event("claim_seed_changed", {"till": keys.address})
        return keys, "ready"
    if store.get_meta("pending_seed_id") != keys.seed_id:
        keys = keyfile.rotate_seed(key_path, keys, passphrase)
        store.set_meta("pending_seed_id", keys.seed_id)
        store.log_event(
            "claim_seed_rotated",
            {"till": keys.address, "reason": "database did not know the key file"},
        )
    next_seq = chain_next_seq(keys.address)
    if next_seq is None:
        return keys, "unsynced"
    with store.transaction() as conn:
        local = (
            conn.execute("SELECT max(seq) FROM sales WHERE till = ?", (keys.address,)).fetchone()[0]
            or 0
        )
        start = max(int(next_seq), local + 1)
        store.set_meta("till_address", keys.address, conn)
        store.set_meta("seed_id", keys.seed_id, conn)
        store.set_meta("next_seq", start, conn)
        store.log_event(
            "till_bound", {"till": keys.address, "next_seq": start, "from": "chain"}, conn=conn
        )
    return keys, "ready"
