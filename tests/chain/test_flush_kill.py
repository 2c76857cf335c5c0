"""kill -9 of a flushing process at random points, 50 times: no proof lost, none twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.flush_kit import assert_exactly_once, deploy_chain, flusher, make_till, run_all

from posd.chain.devchain import Anvil

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("POSD_KILLS", "50"))


def test_kill_9_while_flushing_50_times(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("POSD_KILL_SEED", "4")))
    # blocks every 0.3 s: most kills land while transactions wait in the pool for a block
    with Anvil(block_time=0.3) as anvil:
        chain = deploy_chain(anvil)
        kit = make_till(tmp_path / "till", chain)
        kit.sell(300)
        cmd = [
            sys.executable,
            "-m",
            "posd.chain.flush",
            "--db",
            str(kit.dir / "posd.db"),
            "--key-file",
            str(kit.dir / "till.key"),
            "--rpc",
            anvil.url,
            "--mining",
            chain.mining.address,
            "--max-batch",
            "5",
            "--pipeline",
            "4",
            "--confirmations",
            "1",
            "--tx-timeout",
            "2",
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        finished = 0
        for _ in range(KILLS):
            proc = subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT
            )
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"flushing"  # holds the lock, reconciling
            time.sleep(rng.uniform(0.0, 0.6))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            else:
                finished += 1
            proc.wait(timeout=10)
            proc.stdout.close()
            kit.sell(rng.randint(0, 25))  # sales go on between power cuts
        total = kit.store.one("SELECT count(*) FROM proofs")[0]
        assert finished < KILLS // 2, "most runs should have been killed mid-flush"
        run_all(flusher(kit, chain, confirmations=1), chain)
        assert_exactly_once(kit, chain, total)
        # every transaction the till ever signed is on record, and none put a seq on chain twice
        ok = kit.store.one("SELECT count(*) FROM batches WHERE state = 'confirmed'")[0]
        assert ok == len(chain.batches(kit.till))
