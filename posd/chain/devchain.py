"""A local anvil node on 127.0.0.1 (DESIGN §8): tests, benchmarks and `posd run --simulate`.

The binary comes from ``$POSD_ANVIL``, else ``anvil`` on PATH, else the repo's npm package. With a
state file anvil dumps the chain every second and on SIGTERM; a SIGKILL can leave a half-written
file, which must not block the next start: an unreadable state file is moved aside with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from posd.errors import Unavailable

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
# anvil's default dev accounts (mnemonic "test test ... junk"): public knowledge, dev chains only.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
DEV_CHAIN_ID = 31337


class AnvilError(Unavailable, RuntimeError):
    """anvil could not be found or did not come up."""

    code = "anvil_unavailable"


def _machine() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(m, m)


def find_anvil() -> str:
    """``$POSD_ANVIL``, else ``anvil`` on PATH, else node_modules/@foundry-rs/anvil-linux-<arch>."""
    env = os.environ.get("POSD_ANVIL")
    if env:
        if not os.access(env, os.X_OK):
            raise AnvilError(f"$POSD_ANVIL={env} is not an executable file")
        return env
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    for root in (Path.cwd(), REPO_ROOT):
        candidate = root / f"node_modules/@foundry-rs/anvil-linux-{_machine()}/bin/anvil"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise AnvilError(
        "anvil not found: set $POSD_ANVIL, put anvil on PATH, or run `npm ci` in the repo "
        "(it installs @foundry-rs/anvil)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _state_file_ok(path: Path) -> bool:
    """anvil's state dump is one JSON object; anything else came from an interrupted write."""
    try:
        with path.open("rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict)


def quarantine_state_file(path: Path) -> Path | None:
    """Move an empty or corrupt state file aside (returns its new path), so anvil can start."""
    if not path.exists() or _state_file_ok(path):
        return None
    return _move_aside(path, "unreadable (interrupted write?)")


def _move_aside(path: Path, why: str) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    n = 0
    while True:
        aside = path.with_name(
            f"{path.name}.corrupt-{stamp}-{n}" if n else f"{path.name}.corrupt-{stamp}"
        )
        if not aside.exists():
            break
        n += 1
    path.rename(aside)
    log.warning("anvil state file %s is %s: moved to %s", path, why, aside)
    return aside


class Anvil:
    """An anvil child process bound to 127.0.0.1; a context manager (stops on exit)."""

    def __init__(
        self,
        state_file: Path | None = None,
        block_time: float | None = None,
        port: int = 0,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.state_file = Path(state_file) if state_file else None
        self.block_time = block_time
        self.port = port
        self.extra_args = list(extra_args)
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._stdout: Any = None
        self._id = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [self.binary or find_anvil(), "--host", "127.0.0.1", "--port", str(self.port)]
        if self.state_file is not None:
            cmd += ["--state", str(self.state_file), "--state-interval", "1"]
        if self.block_time is not None:
            cmd += ["--block-time", f"{self.block_time:g}"]
        return cmd + self.extra_args

    def start(self) -> Anvil:
        """Start and wait for eth_chainId; a state file anvil refuses is moved aside, once."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            quarantine_state_file(self.state_file)
        try:
            return self._start_once()
        except AnvilError:
            if self.state_file is None or not self.state_file.exists() or self.running:
                raise
            _move_aside(self.state_file, "refused by anvil")
            return self._start_once()

    def _start_once(self) -> Anvil:
        if self.port == 0:
            self.port = free_port()
        cmd = self.command()
        # output to temp files, not pipes: a chatty anvil must never block on a full pipe
        self._stdout = tempfile.TemporaryFile()
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            start_new_session=True,  # a Ctrl-C in the terminal goes to us, we stop anvil cleanly
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise AnvilError(
                    f"anvil exited with code {self.proc.returncode} during startup "
                    f"({' '.join(cmd)}):\n{self.output_tail()}"
                )
            try:
                self.rpc("eth_chainId", timeout=1.0)
                return self
            except (OSError, urllib.error.URLError, ValueError):
                pass
            if time.monotonic() > deadline:
                tail = self.output_tail()
                self.kill()
                raise AnvilError(
                    f"anvil did not answer eth_chainId on {self.url} within "
                    f"{self.startup_timeout:g}s:\n{tail}"
                )
            time.sleep(0.05)

    def output_tail(self, limit: int = 4000) -> str:
        """The end of anvil's stderr and stdout, for error messages."""
        parts = []
        for name, fh in (("stderr", self._stderr), ("stdout", self._stdout)):
            if fh is None:
                continue
            try:
                fh.flush()
                fh.seek(0)
                text = fh.read().decode("utf-8", "replace")
            except (OSError, ValueError):
                continue
            if text.strip():
                parts.append(f"--- anvil {name} (tail) ---\n{text[-limit:]}")
        return "\n".join(parts) or "(anvil printed nothing)"

    def rpc(self, method: str, *params: Any, timeout: float = 30.0) -> Any:
        """One JSON-RPC call; raises ValueError with the node's error message."""
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        req = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read())
        if "error" in answer:
            raise ValueError(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def _wait(self, timeout: float) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: anvil dumps its state file, then exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self._wait(timeout)
        self._close()

    def kill(self) -> None:
        """SIGKILL, as in a power cut: the state file keeps what the last dump wrote."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        for fh in (self._stdout, self._stderr):
            if fh is not None:
                fh.close()
        self._stdout = self._stderr = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
