"""`posd config init` picks the till's DSG slot at random (DESIGN §10): tills of one store share a
payout address, and a slot of their own keeps them from matching each other's transfers."""

from __future__ import annotations

import tomllib
from pathlib import Path

from click.testing import CliRunner

from posd.cli.main import main
from posd.config import settings as configmod


def test_config_init_writes_a_random_till_slot(tmp_path: Path) -> None:
    slots = []
    for i in range(4):
        cfg, state = tmp_path / f"posd{i}.toml", tmp_path / f"state{i}"
        r = CliRunner().invoke(main, ["config", "init", "--config", str(cfg), "--state-dir",
                                      str(state)])  # fmt: skip
        assert r.exit_code == 0, r.output
        written = tomllib.loads(cfg.read_text())["dsg"]["till_slot"]
        assert isinstance(written, int) and 0 <= written <= 999
        assert configmod.load(cfg).dsg.till_slot == written  # valid, and what the till uses
        slots.append(written)
    assert len(set(slots)) > 1  # four tills on one slot: 1 in 10^9
