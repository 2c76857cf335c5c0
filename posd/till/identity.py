"""Which till this database belongs to, and where its sequence numbers continue (DESIGN §2).

A till must never reuse a seq, nor a claim key. Three marks say where seqs continue:

- L, the database's next seq (``meta.next_seq``);
- H, the high-water mark beside the key file (:mod:`posd.till.seqmark`), advanced before every
  sale's COMMIT, so H ≥ every seq this till issued even if the database was restored;
- C, ``nextSeq(till)`` on chain, whenever the link is up.

When H > L or C > L the database is behind (a backup restored over a newer one): the till takes a
new claim seed (the key file keeps every seed under a ``seed_id``; each sale records its own, so
old receipts still reprint) and continues at max(L, H, C). The seqs the database lost are owed
as zero-amount filler records once C is known (:meth:`Outbox.cover_gap`): those below C are on
chain already, those from C on are written before the new sales reach the chain, so it stays
gap-free. Lost seqs below C that a chain batch holds together with this database's own pending
proofs are rebuilt from that batch's calldata by the flusher (:mod:`posd.chain.flush.adopt`).
With neither database nor mark and no chain the till refuses to sell. A whole-disk
restore (mark and database both old) cannot be seen offline; C catches it once the link is up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posd.config import keyfile
from posd.config.keyfile import TillKeys
from posd.db import meta
from posd.db.meta import Meta
from posd.db.outbox import Outbox
from posd.db.sales import Sales
from posd.db.store import Store
from posd.till.seqmark import SeqMark

log = logging.getLogger("posd.till.identity")


def bind_new(store: Store, keys: TillKeys) -> None:
    """A key file made together with this database: it has never issued a seq anywhere."""
    marks = Meta(store)
    with store.transaction() as conn:
        marks.set(meta.TILL_ADDRESS, keys.address, conn)
        marks.set(meta.SEED_ID, keys.fingerprint, conn)
        marks.set(meta.NEXT_SEQ, 1, conn)
        store.log_event("till_bound", {"till": keys.address, "next_seq": 1}, conn=conn)


@dataclass
class Marks:
    """L, H and C as read together (None: unknown), and what was decided from them."""

    local: int | None
    mark: int | None
    chain: int | None
    case: str = "in_step"
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "L": self.local,
            "H": self.mark,
            "C": self.chain,
            "case": self.case,
            "detail": self.detail,
        }


def ensure_bound(
    store: Store,
    keys: TillKeys,
    key_path: Path,
    passphrase: str | None,
    chain_next_seq: Callable[[str], int | None],
    currency: str | None = None,
    mark: SeqMark | None = None,
) -> tuple[TillKeys, str]:
    """Make the database, the mark and the key file agree; returns the keys to use and a state.

    ``chain_next_seq(till)`` answers the contract's ``nextSeq`` or None when offline.
    States: ``ready``; ``unsynced`` (no database, no mark, offline: the till must not sell yet).
    Raises :class:`~posd.till.seqmark.SeqMarkError` for an unreadable mark (no sale), before
    anything is written. ``mark``: the daemon's one mark (the sale writer's too); without it,
    one is built here.
    """
    mark = mark or SeqMark.beside(key_path, keys.address)
    marks = Meta(store)
    known_till = marks.get(meta.TILL_ADDRESS)
    if known_till and known_till != keys.address:
        raise keyfile.KeyFileError(
            f"{store.path} belongs to till {known_till}, but the key file is till {keys.address}: "
            "restore that till's key file, or move the database aside to start this till afresh"
        )
    high = mark.read()  # first, before the node is asked or anything written: a bad mark stops here
    if known_till == keys.address and marks.has(meta.NEXT_SEQ):
        keys, _ = reconcile(
            store, keys, key_path, passphrase, mark, chain_next_seq(keys.address), currency
        )
        return keys, "ready"
    # The database does not know this till (lost or replaced): its seqs went somewhere.
    if marks.get(meta.PENDING_SEED_ID) != keys.fingerprint:
        keys = keyfile.add_seed(key_path, keys, passphrase, Sales(store).max_seed_id())
        marks.set(meta.PENDING_SEED_ID, keys.fingerprint)
        store.log_event(
            "claim_seed_rotated",
            {
                "till": keys.address,
                "seed_id": keys.seed_id,
                "reason": "database did not know the key file",
            },
        )
    chain = chain_next_seq(keys.address)
    if chain is None and high is None:
        _record(
            store,
            Marks(
                None,
                None,
                None,
                "unsynced",
                "no database, no high-water mark, no chain: not selling",
            ),
        )
        return keys, "unsynced"
    with store.transaction() as conn:
        start = max(chain or 1, high or 1, Sales.last_seq(conn, keys.address) + 1)
        mark.advance(start)
        marks.set(meta.TILL_ADDRESS, keys.address, conn)
        marks.set(meta.SEED_ID, keys.fingerprint, conn)
        marks.set(meta.NEXT_SEQ, start, conn)
        found = Marks(
            None,
            high,
            chain,
            "database_lost",
            f"database lost: new seed {keys.seed_id}, continuing at {start}",
        )
        _owe_fillers(conn, marks, 1, start, found)
        store.log_event(
            "till_bound",
            {"till": keys.address, "next_seq": start, "from": "chain" if chain else "mark"},
            conn=conn,
        )
    if chain is not None:
        Outbox(store).cover_gap(keys.address, chain, currency)
    return keys, "ready"


def reconcile(
    store: Store,
    keys: TillKeys,
    key_path: Path,
    passphrase: str | None,
    mark: SeqMark,
    chain: int | None,
    currency: str | None = None,
) -> tuple[TillKeys, Marks]:
    """L, H, C of a bound database: in step, or behind (new seed, continue at max, fillers owed)."""
    marks = Meta(store)
    local = marks.get(meta.NEXT_SEQ)
    high = mark.read()
    found = Marks(local, high, chain)
    if keys.knows(marks.get(meta.SEED_ID)) is None:
        # the database was made under a seed this key file never held: its old receipts cannot
        # be reprinted with their claim keys, but seqs continue, so no claim key repeats
        marks.set(meta.SEED_ID, keys.fingerprint)
        store.log_event("claim_seed_changed", {"till": keys.address, "seed_id": keys.seed_id})
    target = max(local, high or 0, chain or 0)
    if target == local:
        if high is None:
            mark.set(local)
            found.case, found.detail = "mark_created", f"high-water mark created at {local}"
        elif high < local:
            mark.set(local)
            found.case, found.detail = "mark_behind", f"high-water mark raised {high} -> {local}"
        else:
            found.detail = f"in step at {local}"
        if chain is not None or found.case != "in_step":
            _record(store, found)
        if chain is not None:  # fillers still owed from an earlier, offline start
            Outbox(store).cover_gap(keys.address, chain, currency)
        return keys, found
    found.case = "database_behind_chain" if (chain or 0) > (high or 0) else "database_behind_mark"
    keys = keyfile.add_seed(key_path, keys, passphrase, Sales(store).max_seed_id())
    mark.advance(target)  # before the database says so: H ≥ L holds even across a power cut
    with store.transaction() as conn:
        marks.set(meta.SEED_ID, keys.fingerprint, conn)
        marks.set(meta.NEXT_SEQ, target, conn)
        what = "chain nextSeq" if found.case == "database_behind_chain" else "high-water mark"
        found.detail = f"database behind {what}: new seed {keys.seed_id}, continuing at {target}"
        _owe_fillers(conn, marks, local, target, found)
        store.log_event(
            "claim_seed_rotated",
            {"till": keys.address, "seed_id": keys.seed_id, **found.to_json()},
            conn=conn,
        )
    log.warning("%s (L=%s H=%s C=%s)", found.detail, local, high, chain)
    if chain is not None:
        Outbox(store).cover_gap(keys.address, chain, currency)
    return keys, found


def _owe_fillers(conn: Any, marks: Meta, first: int, end: int, found: Marks) -> None:
    """Seqs [first, end) the database lost: fillers once C is known (now, when it is)."""
    at = max(int(time.time()), marks.get(meta.LAST_TIME, conn))
    owed = marks.get(meta.SEQ_GAP, conn)  # still owed from before: the new gap takes it in
    if owed:
        first, end = min(first, int(owed["from"])), max(end, int(owed["to"]))
    if end > first:
        marks.set(meta.SEQ_GAP, {"from": first, "to": end, "at": at}, conn)
    marks.set(meta.LAST_TIME, at, conn)
    marks.set(meta.SEQ_CASE, {**found.to_json(), "fillers": None, "at": at}, conn)


def _record(store: Store, found: Marks) -> None:
    marks = Meta(store)
    old = marks.get(meta.SEQ_CASE)
    if old and old.get("case", "").startswith("database_") and found.case == "in_step":
        return  # keep the last restore's story for `posd diag`
    marks.set(meta.SEQ_CASE, {**found.to_json(), "fillers": None, "at": int(time.time())})


class SeqGuard:
    """The register's check before a sale: L/H/C again when the chain was not read at start.

    The flusher records ``nextSeq`` as it reads it (``meta.chain_next``); once that is known the
    till compares again before its next sale (a whole-disk restore shows only there), and
    after a failed write (the mark may have run ahead of the database).
    """

    def __init__(
        self,
        store: Store,
        key_path: Path,
        passphrase: str | None,
        mark: SeqMark,
        *,
        currency: str | None = None,
        every_s: float = 2.0,
    ) -> None:
        self.store = store
        self.key_path = key_path
        self.passphrase = passphrase
        self.mark = mark
        self.verified = False  # True once C was compared
        self.currency = currency
        self.every_s = every_s
        self._last = time.monotonic()

    def due(self) -> bool:
        """Compare again now? Only while the chain has not been compared since start."""
        if self.verified or time.monotonic() - self._last < self.every_s:
            return False
        self._last = time.monotonic()
        return bool(Meta(self.store).get(meta.CHAIN_NEXT))

    def before_sale(self, keys: TillKeys) -> TillKeys:
        """Reconcile with the last known C; the keys to sell with (a new seed when behind)."""
        marks = Meta(self.store)
        chain = marks.get(meta.CHAIN_NEXT).get("next_seq")
        if marks.get(meta.TILL_ADDRESS) != keys.address or not marks.has(meta.NEXT_SEQ):
            if chain is None:
                return keys  # unsynced: the register refuses, as before
            keys, _ = ensure_bound(
                self.store,
                keys,
                self.key_path,
                self.passphrase,
                lambda _t: chain,
                self.currency,
                self.mark,
            )
            self.verified = True
            return keys
        keys, found = reconcile(
            self.store, keys, self.key_path, self.passphrase, self.mark, chain, self.currency
        )
        if chain is not None:
            self.verified = True
        return keys
