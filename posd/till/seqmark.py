"""The high-water mark of issued seqs, kept beside the key file, outside the database (DESIGN §2).

``<key_file>.hwm`` holds H: every seq this till ever issued is below it. The sale writer
advances it *before* each group's database COMMIT, so even after a power cut H ≥ every
committed seq; a database restored from a backup is then caught by H > L (its next seq) at the
next start.

Format and atomicity: mode 0600, two fixed 256-byte slots, each ``{"till", "next_seq"}`` as
JSON with a CRC-32. An advance overwrites the slot *not* holding the current value and
``fdatasync``s it: a torn write can spoil only that slot, and the reader takes the highest
valid slot, so a power cut leaves the old mark or the new one. This costs one fsync per sale
group — about an SQLite commit — where a rewrite (temporary file, fsync, rename, fsync of the
directory) measured four to five times that on ext4; the file itself is created that way.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from pathlib import Path

from posd.config.keyfile import KeyFileError


class SeqMarkError(KeyFileError):
    """The mark file is unreadable, corrupt or belongs to another till: no sale until fixed."""

    code = "seq_mark"


def mark_path(key_file: Path) -> Path:
    """Where the mark of the till whose key file is ``key_file`` lives."""
    return key_file.with_name(key_file.name + ".hwm")


class SeqMark:
    """Read and advance one till's mark; thread-safe (the sale writer and start-up share it)."""

    def __init__(self, path: Path, till: str) -> None:
        self.path = Path(path)
        self.till = till
        self._known: int | None = None
        self._slot: int | None = None  # the slot the next write overwrites
        self._fd: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def beside(cls, key_file: Path, till: str) -> SeqMark:
        return cls(mark_path(Path(key_file)), till)

    def read(self) -> int | None:
        """H, or None when there is no mark file yet (a till from before marks existed)."""
        value = self._load()
        with self._lock:
            if value is not None:
                self._known = max(self._known or 0, value)
        return value

    def _load(self) -> int | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SeqMarkError(
                f"{self.path}: cannot read the seq high-water mark: {exc.strerror or exc}"
            ) from None
        slots = [_parse(data[i * SLOT : (i + 1) * SLOT]) for i in range(2)]
        valid = [v for v in slots if v is not None]
        if len(data) != 2 * SLOT or not valid:
            raise SeqMarkError(
                f"{self.path}: the seq high-water mark is corrupt; no sale until it is restored "
                "from a backup of the state dir (or removed, and the till started online: the "
                "chain's nextSeq then guards the seqs)"
            )
        till, value = max(valid, key=lambda v: v[1])
        if till.lower() != self.till.lower():
            raise SeqMarkError(
                f"{self.path}: the seq high-water mark is till {till}'s, not {self.till}'s"
            )
        self._slot = 1 - slots.index((till, value))  # the next write goes to the other slot
        return value

    def advance(self, next_seq: int) -> None:
        """Make H at least ``next_seq``, durably, before returning (no-op when it already is)."""
        with self._lock:
            if self._known is None:  # the writer must not guess: an unreadable mark fails the sale
                self._known = self._load()
            if self._known is not None and self._known >= next_seq:
                return
            self._write(next_seq)
            self._known = next_seq

    def set(self, next_seq: int) -> None:
        """Write H as given (start-up only: creating the mark of an existing database)."""
        with self._lock:
            self._write(next_seq)
            self._known = next_seq

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _write(self, next_seq: int) -> None:
        slot = _slot(self.till, next_seq)
        try:
            if self._fd is None and not self.path.exists():
                self._create(slot)
                return
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR)
                if self._slot is None:
                    self._load()
            os.pwrite(self._fd, slot, (self._slot or 0) * SLOT)
            os.fdatasync(self._fd)
            self._slot = 1 - (self._slot or 0)
        except OSError as exc:
            raise SeqMarkError(
                f"{self.path}: cannot write the seq high-water mark: {exc.strerror or exc}"
            ) from None

    def _create(self, slot: bytes) -> None:
        """A new mark: both slots, written to a temporary file, fsynced, renamed into place."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, slot + slot)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self._slot = 0


SLOT = 256


def _slot(till: str, next_seq: int) -> bytes:
    body = json.dumps({"till": till, "next_seq": next_seq}, separators=(",", ":")).encode()
    line = body + b" " + f"{zlib.crc32(body):08x}".encode() + b"\n"
    return line.ljust(SLOT, b"\0")


def _parse(slot: bytes) -> tuple[str, int] | None:
    """(till, next_seq) of a slot, or None when it is torn or not a mark."""
    line = slot.rstrip(b"\0")
    body, _, crc = line.rstrip(b"\n").rpartition(b" ")
    try:
        if f"{zlib.crc32(body):08x}".encode() != crc:
            return None
        data = json.loads(body)
        till, value = data["till"], data["next_seq"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(till, str) or not isinstance(value, int) or isinstance(value, bool):
        return None
    return (till, value) if value >= 1 else None
