"""Power loss (issue 8): kill -9 of `posd run --simulate` and its anvil at random points across
sales and flushes, a few rounds of bench/powerloss.py (`--rounds 100` is the full soak): no
acknowledged sale lost, nothing twice on chain, the database intact, no claim key reused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("POSD_POWERLOSS_ROUNDS", "5"))


@pytest.mark.timeout(900)
def test_power_cuts_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "powerloss.py"), "--rounds", str(ROUNDS),
         "--seed", "5", "--dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=880,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert report["sales_acknowledged"] > 0 and report["final"]["flushed"], report
    assert report["proofs_lost"] == 0, report["lost_seqs"]
    assert report["duplicated_on_chain"] == 0 and report["final"]["bad_roots"] == 0
    assert report["final"]["next_seq_chain"] == report["proofs_in_db"] + 1
    assert report["integrity_check_failures"] == 0
    assert report["claim_keys_distinct"]
    assert report["server_errors"] == 0, report["server_error_samples"]
    assert report["ok"] and out.returncode == 0, out.stderr[-2000:]


def _anvils_on(state: Path) -> list[int]:
    """Live processes whose command line names this state dir's anvil state file."""
    needle = str(state / "anvil" / "state.json").encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "cmdline").read_bytes():
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.timeout(300)
def test_a_start_that_fails_after_the_chain_leaves_no_anvil_behind(tmp_path: Path) -> None:
    """Found by the soak: a daemon that failed at start (here: a corrupt seq mark) left its
    anvil running on the state file, and the next start ran a second anvil on the same file."""
    from helpers.daemon_util import posd_cli, start_simulate, stop

    proc, _ = start_simulate(tmp_path)
    stop(proc)
    assert _anvils_on(tmp_path) == []
    (tmp_path / "till.key.hwm").write_bytes(b"\xff" * 512)  # unreadable: start-up must refuse
    r = posd_cli("--state-dir", str(tmp_path), "run", "--simulate", timeout=120)
    assert r.returncode != 0 and "high-water mark" in r.stderr
    leftover = _anvils_on(tmp_path)
    for pid in leftover:  # ours: started by the daemon above on our temp dir
        os.kill(pid, 9)
    assert leftover == [], "a failed start left its anvil running"
