"""Simulated receipt printer for ``--simulate`` and tests: an escpos ``Dummy`` per job, the bytes
kept as ``<dir>/receipts/<job>[-copyN].bin``, a PNG preview beside them if posd hands one over.

The .bin files hold the QR, i.e. the claim key (DESIGN §2 allows this in --simulate only): they
are written 0600. Failure injection (``fail_next``, ``set_online``) lets the caller test that a
job stays queued while the printer is gone.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..base import DeviceInfo, EventSink, Status
from ..registry import register
from .common import PrinterError
from .escpos import PrinterDriver

if TYPE_CHECKING:
    from escpos.escpos import Escpos


class _Png(Protocol):
    def save(self, fp: Any, format: str | None = None) -> None: ...  # a PIL image


def _write_private(path: Path, data: bytes) -> None:
    """Atomic, owner-only: a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


@register
class SimulatedPrinter(PrinterDriver):
    """A printer that always works unless told otherwise; status OK (PROBLEM when offline).

    Without a directory (``dir`` option or device path) jobs are kept in memory only
    (``outputs``) and ``print_job`` returns None.
    """

    name = "simulated"
    priority = 0

    def __init__(self, device: DeviceInfo, emit: EventSink | None = None) -> None:
        super().__init__(device, emit)
        directory = device.options.get("dir") or device.path
        self.directory = Path(directory) / "receipts" if directory else None
        self.profile = device.options.get("profile") or "default"
        self.jobs: list[Path] = []
        self.outputs: list[bytes] = []
        self.kicks: list[bytes] = []  # cash drawer kicks (ESC p), kept apart from receipts
        self._online = True
        self._fail = 0
        self._fail_message = ""
        self._state = threading.Lock()
        self._status, self._detail = Status.OK, "simulated"

    @classmethod
    def supported(cls, device: DeviceInfo) -> bool:
        return device.kind == cls.kind and (
            device.interface == "simulated" or device.options.get("driver") == "simulated"
        )

    @classmethod
    def create(
        cls,
        directory: str | Path,
        emit: EventSink | None = None,
        profile: str | None = None,
        device_id: str = "printer:simulated",
    ) -> SimulatedPrinter:
        """Without a registry: ``SimulatedPrinter.create(state_dir)``."""
        options = {"driver": "simulated", "dir": str(directory), "profile": profile or "default"}
        info = DeviceInfo(
            device_id, "printer", "simulated", str(directory), "Simulated printer", options
        )
        return cls(info, emit)

    # -- failure injection -------------------------------------------------------------

    def fail_next(self, n: int = 1, message: str = "simulated printer failure") -> None:
        """The next ``n`` print jobs fail with ``PrinterError(message)`` (checks don't count)."""
        with self._state:
            self._fail, self._fail_message = n, message

    def set_online(self, online: bool) -> None:
        """Offline: every job fails and status is PROBLEM until set back online."""
        with self._state:
            self._online = online
        if online:
            self._set(Status.OK, "simulated")
        else:
            self._set(Status.PROBLEM, f"{self.device.id}: printer offline (simulated)")

    def check(self) -> Status:
        """No I/O to do: online is OK, offline is PROBLEM; never consumes ``fail_next``."""
        with self._state:
            online = self._online
        if online and self._status is not Status.OK:
            self._set(Status.OK, "simulated")
        return self._status

    # -- PrinterDriver hooks -----------------------------------------------------------

    def connect(self) -> Escpos:
        with self._state:
            if not self._online:
                raise PrinterError(f"{self.device.id}: printer offline (simulated)")
            if self._fail > 0:
                self._fail -= 1
                raise PrinterError(f"{self.device.id}: {self._fail_message}")
        from escpos.printer import Dummy  # python-escpos loads with the first job

        printer = Dummy(profile=self.profile)
        printer.read_status = self._read_status  # type: ignore[attr-defined]
        return printer

    @staticmethod
    def _read_status(query: bytes, timeout: float) -> bytes:
        return b"\x12"  # online, paper adequate (fixed bits only)

    def _finish(self, printer: Escpos, job: str) -> Path | None:
        """Keep the bytes: ``<job>.bin``, or ``<job>-copyN.bin`` when that job printed before."""
        self.outputs.append(printer.output)  # type: ignore[attr-defined]  # a Dummy
        if self.directory is None:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in job) or "job"
        path, copy = self.directory / f"{stem}.bin", 0
        while path.exists():
            copy += 1
            path = self.directory / f"{stem}-copy{copy}.bin"
        _write_private(path, printer.output)  # type: ignore[attr-defined]
        self.jobs.append(path)
        return path

    def _kicked(self, printer: Escpos) -> None:
        self.kicks.append(printer.output)  # type: ignore[attr-defined]  # a Dummy

    # -- extras for posd and tests -----------------------------------------------------

    def save_preview(self, job_file: Path, png: bytes | _Png) -> Path:
        """Write posd's PNG preview beside the job's ``.bin`` (same name, ``.png``)."""
        target = Path(job_file).with_suffix(".png")
        if isinstance(png, bytes | bytearray):
            _write_private(target, bytes(png))
        else:
            tmp = target.with_name(f".{target.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                png.save(out, format="PNG")
            os.replace(tmp, target)
        return target

    @property
    def last_output(self) -> bytes:
        """Bytes of the latest job, for tests."""
        return self.outputs[-1] if self.outputs else b""


@register
class SimulatedDrawer(SimulatedPrinter):
    """A simulated ``drawer`` device: kicks land in ``kicks``; pin 2 unless the entry says."""

    kind = "drawer"
    name = "simulated-drawer"
    default_drawer = "pin2"
