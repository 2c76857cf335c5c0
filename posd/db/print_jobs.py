"""Receipts waiting for the printer (table ``print_jobs``): their one owner.

The first print of a sale is queued inside the sale's own transaction (``enqueue_first``), so a
failed print never loses it; copies (reprints) are queued on their own. A job moves from
``queued`` to ``printed``; a failed attempt stays queued with a later ``next_try``; a job whose
receipt cannot be built at all is ``failed`` (kept with its error, never retried).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from posd.db import events
from posd.db.sales import Sales
from posd.db.store import Store


@dataclass(frozen=True)
class Job:
    id: int
    seq: int
    copy: int
    attempts: int


class PrintJobs:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def enqueue_first(conn: sqlite3.Connection, seqs: list[int], now: float) -> None:
        """The original receipts of a group of sales, in the sales' transaction."""
        conn.executemany(
            "INSERT INTO print_jobs(seq, copy, created_at, next_try) VALUES (?, 0, ?, 0)",
            [(seq, now) for seq in seqs],
        )

    def add_copy(self, seq: int) -> int | None:
        """Queue a COPY of sale ``seq`` (logged as a reprint); None when there is no such sale."""
        with self.store.transaction() as conn:
            if not Sales.exists(conn, seq):
                return None
            cur = conn.execute(
                "INSERT INTO print_jobs(seq, copy, created_at, next_try) VALUES (?, 1, ?, 0)",
                (seq, time.time()),
            )
            events.append(conn, "reprint", {"seq": seq})
        return int(cur.lastrowid)

    def queued(self) -> int:
        return self.store.one("SELECT count(*) FROM print_jobs WHERE state = 'queued'")[0]

    def last_error(self) -> str | None:
        """The error of the oldest queued job that has failed at least once."""
        row = self.store.one(
            "SELECT last_error FROM print_jobs WHERE state = 'queued' AND attempts > 0 "
            "ORDER BY id LIMIT 1"
        )
        return row[0] if row else None

    def next_due(self, now: float) -> Job | None:
        row = self.store.one(
            "SELECT id, seq, copy, attempts FROM print_jobs WHERE state = 'queued' "
            "AND next_try <= ? ORDER BY id LIMIT 1",
            (now,),
        )
        return Job(*row) if row else None

    def next_try(self) -> float | None:
        """When the earliest queued job is due (None: nothing queued)."""
        return self.store.one("SELECT min(next_try) FROM print_jobs WHERE state = 'queued'")[0]

    def failed(self, job_id: int, error: str, next_try: float) -> None:
        self.store.execute(
            "UPDATE print_jobs SET attempts = attempts + 1, last_error = ?, next_try = ? "
            "WHERE id = ?",
            (error, next_try, job_id),
        )

    def give_up(self, job_id: int, error: str) -> None:
        """A job that can never print (its receipt cannot be built): ``failed``, with why."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE print_jobs SET state = 'failed', attempts = attempts + 1, last_error = ? "
                "WHERE id = ?",
                (error, job_id),
            )
            events.append(conn, "print_job_failed", {"job": job_id, "error": error})

    def failed_count(self) -> int:
        return self.store.one("SELECT count(*) FROM print_jobs WHERE state = 'failed'")[0]

    def printed(self, job_id: int) -> None:
        self.store.execute(
            "UPDATE print_jobs SET state = 'printed', printed_at = ?, attempts = attempts + 1, "
            "last_error = '' WHERE id = ?",
            (time.time(), job_id),
        )
