"""`posd queue --json` and `posd flush` on a real till directory and a real anvil; retention."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.flush_kit import assert_exactly_once, deploy_chain, flusher, make_till

from posd.chain.devchain import Anvil
from posd.chain.flush import flush_all
from posd.chain.sender import SenderLock
from posd.cli.main import main

pytestmark = pytest.mark.anvil


def test_posd_flush_and_queue(tmp_path: Path) -> None:
    with Anvil() as anvil:
        chain = deploy_chain(anvil)
        kit = make_till(tmp_path / "till", chain)
        kit.sell(300)
        conf = tmp_path / "posd.toml"
        conf.write_text(
            f'[chain]\nrpc_url = "{anvil.url}"\nmining_address = "{chain.mining.address}"\n'
            "confirmations = 1\n"
        )
        base = ["--config", str(conf), "--state-dir", str(kit.dir)]
        runner = CliRunner()
        out = runner.invoke(main, [*base, "queue", "--json"])
        assert out.exit_code == 0, out.output
        status = json.loads(out.output)
        assert status["counts"]["pending"] == 300 and status["oldest_pending_age_s"] >= 0
        assert status["last_error"] is None

        # the daemon's sender holds the lock: the CLI waits, then gives up with a clear error
        held = SenderLock(kit.dir)
        assert held.acquire(timeout=0)
        out = runner.invoke(main, [*base, "flush", "--wait", "0.3"])
        assert out.exit_code == 3 and "still held" in out.output
        held.release()

        out = runner.invoke(main, [*base, "flush", "--json", "--timeout", "60"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.output)["counts"]["pending"] == 0
        chain.mine(2)
        out = runner.invoke(main, [*base, "flush", "--confirm", "--json", "--timeout", "60"])
        assert out.exit_code == 0, out.output
        assert_exactly_once(kit, chain, 300)
        out = runner.invoke(main, [*base, "queue"])
        assert "confirmed 300" in out.output and "link: online" in out.output


def test_retention_deletes_old_confirmed_proofs_only(tmp_path: Path) -> None:
    with Anvil() as anvil:
        chain = deploy_chain(anvil)
        kit = make_till(tmp_path / "till", chain)
        kit.sell(20)
        f = flusher(kit, chain, confirmations=1, retention_days=30)
        flush_all(f, wait_confirmed=True, timeout=30, mine=lambda: chain.mine(1))
        kit.sell(5)
        old = time.time() - 31 * 86400
        kit.store.execute("UPDATE proofs SET updated_at = ? WHERE seq <= 10", (old,))
        f._retention(every_s=0)
        assert kit.store.one("SELECT min(seq), count(*) FROM proofs")[:] == (11, 15)
        assert kit.store.one("SELECT count(*) FROM sales")[0] == 25  # sales rows stay
        flush_all(f, wait_confirmed=True, timeout=30, mine=lambda: chain.mine(1))
        assert chain.next_seq(kit.till) == 26
