"""Start a real daemon in-process on a temp state dir (configured devices, loopback API)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from posd.app.daemon import Daemon
from posd.config import keyfile
from posd.config import settings as configmod
from posd.db.store import Store
from posd.till import identity
from posd.till.catalog import DEMO_PRODUCTS, Catalog


def make_daemon(state: Path, devices: list[dict[str, Any]], **chain: Any) -> Daemon:
    cfg = configmod.load(None, state_dir=str(state))
    cfg.device = devices
    cfg.api.port = 0
    cfg.explicit.add("api.port")
    for key, value in chain.items():
        setattr(cfg.chain, key, value)
    provision(cfg)
    return Daemon(cfg, simulate=False)


def provision(
    cfg: configmod.Config, passphrase: str | None = None, *, fast_kdf: bool = False
) -> keyfile.TillKeys:
    """What `posd init` leaves in ``cfg``'s state dir: a new till key (encrypted with
    ``passphrase`` if given), bound, and the demo catalog. Returns the keys."""
    keys = keyfile.generate()
    keyfile.save(cfg.key_file, keys, passphrase, fast_kdf=fast_kdf)
    store = Store(cfg.db_path)
    identity.bind_new(store, keys)
    Catalog(store).upsert(DEMO_PRODUCTS)
    store.close()
    return keys


class Client:
    """A local API caller: the bearer token (``token``) and/or a paired page's ``cookie``."""

    def __init__(self, base: str, token: str | None, cookie: str | None = None) -> None:
        self.base, self.token, self.cookie = base, token, cookie

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        if self.cookie:
            req.add_header("Cookie", self.cookie)
        req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())

    def post(
        self, path: str, body: Any = None, raw: bytes | None = None, **kw: Any
    ) -> tuple[int, Any]:
        return self.call("POST", path, body, raw, **kw)

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("GET", path, **kw)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def open_pair_url(url: str) -> tuple[int, dict[str, str]]:
    """GET a pairing URL as a browser would, without following its redirect: (status, headers)."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}


def pair_code(store_path: Path, scope: str = "cashier", ttl: float = 300) -> str:
    """A new single-use pairing code in the till database, as `posd pair` makes one."""
    from posd.db.sessions import Sessions

    store = Store(store_path)
    try:
        return Sessions(store).new_code(scope, ttl).code
    finally:
        store.close()


def pair_link(daemon: Daemon, scope: str = "cashier") -> str:
    """A running daemon's pairing URL, as `posd pair --scope SCOPE` prints it."""
    from posd.api.app import pair_url
    from posd.db.sessions import Sessions

    return pair_url(daemon.server.port, Sessions(daemon.store).new_code(scope).code)


def pair_cookie(store_path: Path, base: str, scope: str = "cashier") -> str:
    """Pair through the real route: a code in the till database, swapped at GET /pair."""
    from posd.api.app import pair_url

    code = pair_code(store_path, scope)
    status, headers = open_pair_url(pair_url(int(base.rsplit(":", 1)[1]), code))
    assert status == 303, (status, headers)
    return headers["set-cookie"].split(";", 1)[0]


ROOT = Path(__file__).resolve().parents[2]


def posd_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the `posd` command in a subprocess, as a store owner or technician would: the
    caller's POSD_CONFIG / POSD_STATE_DIR are dropped (a test names its till), ``env`` is added."""
    clean = {k: v for k, v in os.environ.items() if k not in ("POSD_CONFIG", "POSD_STATE_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "posd.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**clean, **(env or {})},
        timeout=timeout,
    )


def start_simulate(
    state: Path, *args: str, timeout: float = 90
) -> tuple[subprocess.Popen, dict[str, str]]:
    """`posd run --simulate [ARGS]` until it prints `ready`; the process and its key: value lines."""
    return start_posd("--state-dir", str(state), "run", "--simulate", *args, timeout=timeout)


def start_posd(*argv: str, timeout: float = 90) -> tuple[subprocess.Popen, dict[str, str]]:
    """`posd ARGV` until it prints `ready`; the process and its key: value lines, in order.

    On a failure to start, the process is terminated and its stderr's tail is in the error.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "posd.cli.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    try:
        while "ready" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"posd {' '.join(argv)} ended: {proc.stderr.read()[-3000:]}")
            key, _, value = line.strip().partition(": ")
            lines[key] = value
        assert "ready" in lines, f"no ready line within {timeout:.0f} s"
    except BaseException:
        proc.terminate()
        raise
    return proc, lines


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
