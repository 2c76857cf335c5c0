"""`--simulate`'s claim gateway (DESIGN §9): `posd gateway` as a child process.

A child, not a thread: the till daemon's own memory stays what it is (the gateway loads web3's
ABI codecs, starlette routes and its own SQLite), and a crash of one never takes the other
down. It listens on a free loopback port, pays gas from an anvil dev account that is neither the
deployer/admin (account 0) nor the till, and keeps ``gateway.db`` in the state dir. Its stdin is
a pipe the daemon never writes: when the daemon dies — even by kill -9 — the pipe closes and the
gateway stops itself; a clean stop sends SIGTERM, as for anvil.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from posd.chain.devchain import DEV_KEYS, free_port
from posd.errors import Unavailable

log = logging.getLogger("posd.app.sim_gateway")
# anvil's last default account pays the simulated gateway's gas (0 deploys and administers)
GATEWAY_KEY = DEV_KEYS[9]
STARTUP_S = 60.0


class GatewayChildError(Unavailable, RuntimeError):
    code = "gateway_unavailable"


class GatewayChild:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._ready = threading.Event()
        self._log = None

    def start(self, rpc_url: str, mining: str, staking: str = "") -> str:
        """Spawn it on a free port; returns its URL at once (``wait_ready`` before using it)."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable, "-m", "posd.cli.main", "gateway",
            "--rpc", rpc_url, "--mining", mining, "--private-key", GATEWAY_KEY,
            "--listen", f"127.0.0.1:{port}", "--state-dir", str(self.state_dir), "--lifeline",
        ]  # fmt: skip
        if staking:
            cmd += ["--staking", staking]
        self._log = (self.state_dir / "gateway.log").open("a")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,  # the lifeline: closes when we die
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,  # a Ctrl-C goes to the daemon, which stops us cleanly
        )
        threading.Thread(target=self._read, name="gateway-out", daemon=True).start()
        return self.url

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            key, _, value = line.strip().partition(": ")
            if key == "gateway":
                self.url = value
            elif key == "ready":
                self._ready.set()

    def wait_ready(self, timeout: float = STARTUP_S) -> str:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.proc is None or self.proc.poll() is not None:
                raise GatewayChildError(
                    f"the simulated gateway exited during start-up (see {self.state_dir}/"
                    "gateway.log)"
                )
            if time.monotonic() > deadline:
                raise GatewayChildError(f"the simulated gateway was not ready in {timeout:g} s")
        return self.url

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None
