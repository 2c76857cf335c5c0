"""Paired pages (DESIGN §7): `posd pair` → single-use code → HttpOnly SameSite=Strict session.

Real parts: the daemon's HTTP API, the `posd` command in another process on the same state dir,
the SQLite file both use, a daemon restart on that file.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w
from helpers.daemon_util import (
    ROOT,
    Client,
    open_pair_url,
    pair_code,
    pair_cookie,
    posd_cli,
    provision,
)

from posd.api.app import pair_url
from posd.chain.devchain import free_port
from posd.config import settings as configmod
from posd.db.sessions import MAX_FAILURES


def _new_code(running, scope: str = "cashier", ttl: float = 300) -> str:
    return pair_code(running.daemon.config.db_path, scope, ttl)


def test_a_code_swaps_once_for_a_strict_httponly_session(running) -> None:
    code = _new_code(running, "cashier")
    status, headers = open_pair_url(pair_url(running.port, code))
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith("posd_cashier=")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    # only hashes are stored: neither the code nor the session token is in the database file
    raw = running.daemon.config.db_path.read_bytes()
    for wal in running.daemon.config.db_path.parent.glob("*.db-wal"):
        raw += wal.read_bytes()
    assert code.encode() not in raw and value.encode() not in raw
    # single use
    again, headers = open_pair_url(pair_url(running.port, code))
    assert again == 400 and "set-cookie" not in headers
    paired = Client(running.base, None, cookie.split(";", 1)[0])
    assert paired.post("/api/scan", {"code": "4006381333931"})[0] == 200


def test_wrong_guesses_void_the_open_codes(running) -> None:
    code = _new_code(running)
    for i in range(MAX_FAILURES):
        guess = "ABCDEFGHJ" + "KMNPQRSTUV"[i]
        assert guess != code
        assert open_pair_url(pair_url(running.port, guess))[0] == 400
    # the right code no longer works: a brute force gets MAX_FAILURES tries per code, not 2^50
    status, headers = open_pair_url(pair_url(running.port, code))
    assert status == 400 and "set-cookie" not in headers


def test_an_expired_code_is_refused(running) -> None:
    code = _new_code(running, ttl=0.2)
    time.sleep(0.4)
    assert open_pair_url(pair_url(running.port, code))[0] == 400


def test_pairing_from_another_site_is_refused(running) -> None:
    code = _new_code(running)
    req_headers = {"Sec-Fetch-Site": "cross-site"}
    import urllib.request

    req = urllib.request.Request(pair_url(running.port, code), headers=req_headers)
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("pairing from another site was accepted")
    except urllib.error.HTTPError as err:
        assert err.code == 403 and "set-cookie" not in {k.lower() for k in err.headers}
    assert open_pair_url(pair_url(running.port, code))[0] == 303  # the code was not spent


def _wait_port_free(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return
            except OSError:
                time.sleep(0.1)
    raise AssertionError(f"port {port} still taken")


def _till_config(tmp_path: Path) -> Path:
    """A config file naming the state dir and an API port, with a bound till in that dir."""
    state = tmp_path / "state"
    path = tmp_path / "posd.toml"
    data = {
        "till": {"state_dir": str(state)},
        "api": {"port": free_port()},
        "device": [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")}],
    }
    path.write_text(tomli_w.dumps(data))
    provision(configmod.load(path))
    return path


def test_posd_pair_beside_a_running_daemon_and_sessions_survive_a_restart(tmp_path: Path) -> None:
    from posd.app.daemon import Daemon

    path = _till_config(tmp_path)
    daemon = Daemon(configmod.load(path))
    port = daemon.start()
    try:
        r = posd_cli("pair", "--scope", "display", "--json", "--config", str(path))
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["scope"] == "display" and out["url"].startswith(
            f"http://127.0.0.1:{port}/pair?code="
        )
        assert out["expires_at"] > time.time() + 240
        status, headers = open_pair_url(out["url"])
        assert status == 303 and headers["location"] == "/display"
        cookie = headers["set-cookie"].split(";", 1)[0]
        assert Client(f"http://127.0.0.1:{port}", None, cookie).get("/api/sale")[0] == 200
        bad = posd_cli("pair", "--scope", "owner", "--config", str(path))
        assert bad.returncode != 0 and "owner" in bad.stderr
    finally:
        daemon.stop()
    _wait_port_free(port)  # the API thread lets go of its socket shortly after stop()
    daemon = Daemon(configmod.load(path))
    port = daemon.start()
    try:
        paired = Client(f"http://127.0.0.1:{port}", None, cookie)
        assert paired.get("/api/sale")[0] == 200  # the session is in SQLite, not in memory
        assert paired.get("/display")[0] == 200
        assert posd_cli("pair", "--revoke", "--config", str(path)).returncode == 0
        time.sleep(0.1)
        fresh = Client(f"http://127.0.0.1:{port}", None, cookie)
        # a revoke takes effect within the API's short session cache
        deadline = time.monotonic() + 10
        while fresh.get("/api/sale")[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert fresh.get("/api/sale")[0] == 401
    finally:
        daemon.stop()


def test_posd_run_prints_the_token_only_under_simulate(tmp_path: Path) -> None:
    path = _till_config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "posd.cli.main", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while "ready" not in lines and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(proc.stderr.read())
            lines.append(line.strip())
        assert "ready" in lines
        assert not any(line.startswith(("token:", "pair:")) for line in lines), lines
        assert any(line.startswith("api: http://127.0.0.1:") for line in lines)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.anvil
def test_simulate_prints_a_cashier_pair_url_before_ready(tmp_path: Path) -> None:
    from helpers.daemon_util import start_simulate, stop

    proc, lines = start_simulate(tmp_path / "sim")
    try:
        assert lines["token"] and lines["pair"].startswith(lines["api"] + "/pair?code=")
        order = list(lines)
        assert order.index("pair") < order.index("ready")
        status, headers = open_pair_url(lines["pair"])
        assert status == 303 and headers["location"] == "/"
        cookie = headers["set-cookie"].split(";", 1)[0]
        assert cookie.startswith("posd_cashier=")
        status, html = Client(lines["api"], None, cookie).get("/")
        assert status == 200 and lines["token"] not in html
        # `posd pair` finds the simulated daemon's port in the state dir
        r = posd_cli("pair", "--json", "--state-dir", str(tmp_path / "sim"))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["url"].startswith(lines["api"] + "/pair?code=")
    finally:
        stop(proc)


def test_pair_cookie_helper_pairs_through_the_route(running) -> None:
    cookie = pair_cookie(running.daemon.config.db_path, running.base, "tech")
    assert cookie.startswith("posd_tech=")
