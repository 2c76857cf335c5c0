"""Memory at idle (issue 12 item 7): heavy libraries load when a command needs them, not before.

An RSS bound would be flaky across machines; which libraries an idle daemon holds is not. The
fast test starts a real daemon in a fresh interpreter and reads its ``sys.modules``: no web3,
no PIL, no python-escpos, no qrcode until the first receipt prints (then escpos is there: the
check can fail). The slow one runs `posd run --simulate` (its own anvil, the contracts deployed
by a child process) and reads the daemon's memory map: no native part of aiohttp (web3), PIL
or yaml (python-escpos). `bench/memory.py` prints the RSS itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.daemon_util import start_simulate, stop

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("web3", "PIL", "escpos", "qrcode", "aiohttp")
PROBE = """
import json, sys, time
sys.path.insert(0, "tests")
from pathlib import Path
from helpers.daemon_util import Client, make_daemon
d = make_daemon(Path(sys.argv[1]), [{"kind": "printer", "driver": "simulated"}])
port = d.start()
heavy = %r
idle = [m for m in heavy if m in sys.modules]
c = Client(f"http://127.0.0.1:{port}", d.api_token)
c.post("/api/scan", {"code": "4006381333931"})
c.post("/api/sale/pay", {"tender": "cash", "amount": 500})
deadline = time.monotonic() + 20
while "escpos" not in sys.modules and time.monotonic() < deadline:
    time.sleep(0.05)
printed = [m for m in heavy if m in sys.modules]
d.stop()
print(json.dumps({"idle": idle, "after_a_receipt": printed}))
"""


def test_an_idle_daemon_has_not_loaded_the_heavy_libraries(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), str(tmp_path / "state")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["idle"] == []
    assert "escpos" in found["after_a_receipt"]  # loaded by the first print, as it should be
    assert "web3" not in found["after_a_receipt"]


def _mapped(pid: int) -> set[str]:
    tops = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split()[-1]
        if ".so" in path and "site-packages/" in path:
            tops.add(path.split("site-packages/")[1].split("/")[0])
    return tops


@pytest.mark.anvil
@pytest.mark.slow
def test_the_simulate_daemon_keeps_web3_pil_and_escpos_out_at_idle(tmp_path: Path) -> None:
    proc, lines = start_simulate(tmp_path / "state")
    try:
        assert "ready" in lines
        time.sleep(2)
        mapped = _mapped(proc.pid)
        assert "coincurve" in mapped  # the map is read: the till's own crypto is there
        assert not mapped & {"aiohttp", "PIL", "yaml"}, sorted(mapped)
    finally:
        stop(proc)
