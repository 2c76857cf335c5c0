"""The local API's OpenAPI description (``GET /api/openapi.json``) and schemathesis fuzzing from it.

The fast tests check the description itself: served only with auth (DESIGN §7: every /api route
but status), valid OpenAPI that schemathesis loads, and naming every /api route the app serves,
with the scope each needs. The slow one fuzzes a real `posd run --simulate` (its own anvil) over
real HTTP with the bearer token: no 5xx for any generated input, responses as described, and
every route but status refusing a caller without auth.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.daemon_util import Client, start_simulate, stop
from starlette.routing import Route

from posd.api.app import create_app

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_the_description_needs_auth_and_is_valid_openapi(running) -> None:
    status, body = running.anon.get("/api/openapi.json")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, spec = running.client.get("/api/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    import schemathesis

    loaded = schemathesis.openapi.from_dict(spec)
    operations = {(r.ok().method.upper(), r.ok().path) for r in loaded.get_all_operations()}
    assert ("POST", "/api/sale/pay") in operations and ("GET", "/api/status") in operations


def test_the_description_names_every_api_route_and_its_auth(running) -> None:
    app = create_app(
        running.daemon.till, "t", port=running.port, sessions=_NoSessions()
    )  # the routes as served
    served = set()
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            for method in route.methods or ():
                if method != "HEAD":
                    served.add((method, route.path))
    _, spec = running.client.get("/api/openapi.json")
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert described == served
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert (op.get("security") == []) == (path == "/api/status"), path


class _NoSessions:
    def redeem(self, code: str) -> None:
        return None

    def scope_of(self, token: str) -> None:
        return None


@pytest.mark.slow
@pytest.mark.anvil
@pytest.mark.skipif(
    not SCHEMATHESIS.exists(), reason="schemathesis missing: pip install -e '.[dev]'"
)
def test_schemathesis_finds_no_server_error_on_a_running_simulated_till(tmp_path: Path) -> None:
    proc, lines = start_simulate(tmp_path / "state")
    try:
        base, token = lines["api"], lines["token"]
        _, spec = Client(base, token).get("/api/openapi.json")
        # auth where DESIGN §7 says: every described route but status refuses an anonymous call
        anon = Client(base, None)
        for path, ops in spec["paths"].items():
            for method in ops:
                concrete = path.replace("{seq}", "1")
                status, _ = anon.call(method.upper(), concrete, {} if method == "post" else None)
                assert status == (200 if path == "/api/status" else 401), (method, path, status)

        report = tmp_path / "report"
        env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{base}/api/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,"
                "response_schema_conformance,ignored_auth",
                "--exclude-path",
                "/api/events",  # a stream that never ends; fuzzed by hand in test_events.py
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "40",
                "--workers",
                "1",
                "--request-timeout",
                "20",
                "--seed",
                "8",
                "--report",
                "junit",
                "--report-dir",
                str(report),
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=400,
            cwd=tmp_path,
            env=env,
        )
        out = run.stdout + run.stderr
        assert run.returncode == 0, out[-6000:]
        generated = re.search(r"(\d+) generated, (\d+) passed", out)
        assert generated and int(generated[1]) >= 200 and generated[1] == generated[2], out[-3000:]
        assert "Server error" not in out and "Network Error" not in out
        # the daemon logged no internal error while being fuzzed
        status, health = Client(base, token).get("/api/status")
        assert status == 200 and health["till"]
    finally:
        stop(proc)
        err = proc.stderr.read() if proc.stderr else ""
        shutil.rmtree(tmp_path / "report", ignore_errors=True)
    assert "internal error on" not in err, err[-4000:]
    assert "Traceback" not in err, err[-4000:]
