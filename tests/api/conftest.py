"""A running in-process daemon for the API tests: a bound till, the demo catalog, a simulated
printer and the API on a free loopback port, with a bearer client and an anonymous one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.daemon_util import Client, make_daemon, pair_cookie

from posd.app.daemon import Daemon


@dataclass
class Api:
    daemon: Daemon
    port: int
    client: Client  # the bearer token: every scope
    anon: Client  # nothing

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paired(self, scope: str) -> Client:
        """A page's client: a session cookie of ``scope``, paired through GET /pair; no token."""
        return Client(self.base, None, pair_cookie(self.daemon.config.db_path, self.base, scope))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Api]:
    daemon = make_daemon(
        tmp_path, [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")}]
    )
    port = daemon.start()
    base = f"http://127.0.0.1:{port}"
    try:
        yield Api(daemon, port, Client(base, daemon.api_token), Client(base, None))
    finally:
        daemon.stop()
