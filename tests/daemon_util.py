"""Start a real daemon in-process on a temp state dir (configured devices, loopback API)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from posd import config as configmod
from posd import identity
from posd import keys as keyfile
from posd.catalog import DEMO_PRODUCTS, Catalog
from posd.daemon import Daemon
from posd.store import Store


def make_daemon(state: Path, devices: list[dict[str, Any]], **chain: Any) -> Daemon:
    cfg = configmod.load(None, state_dir=str(state))
    cfg.device = devices
    cfg.api.port = 0
    cfg.explicit.add("api.port")
    for key, value in chain.items():
        setattr(cfg.chain, key, value)
    keys = keyfile.generate()
    keyfile.save(cfg.key_file, keys)
    store = Store(cfg.db_path)
    identity.bind_new(store, keys)
    Catalog(store).upsert(DEMO_PRODUCTS)
    store.close()
    return Daemon(cfg, simulate=False)


class Client:
    def __init__(self, base: str, token: str | None) -> None:
        self.base, self.token = base, token

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def post(self, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
        return self.call("POST", path, body, raw)

    def get(self, path: str) -> tuple[int, Any]:
        return self.call("GET", path)


ROOT = Path(__file__).resolve().parents[1]


def posd_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the `posd` command in a subprocess, as a store owner or technician would."""
    return subprocess.run(
        [sys.executable, "-m", "posd.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def start_simulate(state: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """`posd run --simulate` until it prints `ready`; returns the process and its key: value lines."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "posd.cli", "--state-dir", str(state), "run", "--simulate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: dict[str, str] = {}
    deadline = time.monotonic() + 90
    while "ready" not in lines and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"posd run --simulate ended: {proc.stderr.read()}")
        key, _, value = line.strip().partition(": ")
        lines[key] = value
    assert "ready" in lines, "no ready line within 90 s"
    return proc, lines


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
