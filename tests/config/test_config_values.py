"""Issue 8 #9: `posd config check` refuses values that would only crash later, naming the file,
the [section] key and what was expected."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from posd.config import settings as configmod
from posd.config.settings import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD_ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own example


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[chain]\nchain_id = -1\n",
            r"\[chain\] chain_id: expected 0 \(ask the node\) or a chain id",
        ),
        ("[chain]\nchain_id = 18446744073709551616\n", r"\[chain\] chain_id: expected"),
        ("[chain]\nmining_address = '0x123'\n", r"\[chain\] mining_address: expected .*40 hex"),
        (f"[chain]\nmining_address = '0x{'g' * 40}'\n", r"\[chain\] mining_address: expected"),
        (f"[chain]\ntoken_address = '{'a' * 42}'\n", r"\[chain\] token_address: expected"),
        (
            f"[chain]\nmining_address = '{GOOD_ADDRESS.replace('a', 'A', 1)}'\n",
            r"\[chain\] mining_address: .*checksum",
        ),
        ("[api]\ntoken = 'x'\n", r"\[api\] token: expected at least 16"),
        ("[api]\ntoken = 'abcdefgh ijklmnopq'\n", r"\[api\] token: expected .*no spaces"),
        ("[api]\nport = 65536\n", r"\[api\] port: expected 0..65535"),
        ("[api]\nport = -1\n", r"\[api\] port: expected 0..65535"),
        ("[chain]\nconfirmations = -1\n", r"\[chain\] confirmations: expected 0"),
        ("[chain]\nflush_interval_s = -5\n", r"\[chain\] flush_interval_s: expected 1"),
        ("[chain]\ntx_timeout_s = -1\n", r"\[chain\] tx_timeout_s: expected 1"),
        ("[chain]\nretention_days = -1\n", r"\[chain\] retention_days: expected 0"),
        ("[chain]\nbacklog_threshold = 0\n", r"\[chain\] backlog_threshold: expected 1"),
        ("[chain]\nlow_balance_batches = -3\n", r"\[chain\] low_balance_batches: expected 0"),
        ("[chain]\nmax_fee_gwei = -1.0\n", r"\[chain\] max_fee_gwei: expected a positive"),
        ("[chain]\nmax_fee_gwei = nan\n", r"\[chain\] max_fee_gwei: expected a positive"),
        ("[chain]\nreward_rate = -1\n", r"\[chain\] reward_rate: expected 0"),
        ("[chain]\nrpc_url = 'localhost:8545'\n", r"\[chain\] rpc_url: expected an http"),
        (
            "[receipt]\nclaim_base_url = 'https://x.example/c#frag'\n",
            r"\[receipt\] claim_base_url: expected an https?://",
        ),
        ("[receipt]\nclaim_base_url = 'claim'\n", r"\[receipt\] claim_base_url: expected"),
        ("[store]\nname = ''\n", r"\[store\] name: expected a name"),
        (
            "[[device]]\nkind = 'printer'\ndriver = 'escpos-network'\nhost = 'p'\ntcp_port = 70000\n",
            r"\[\[device\]\] #1: .*tcp_port",
        ),
    ],
)
def test_values_that_would_crash_later_are_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "posd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ".*" + expected):
        configmod.load(path)


@pytest.mark.parametrize(
    "text",
    [
        "[chain]\nchain_id = 0\n",  # 0 = ask the node (the documented default)
        "[chain]\nchain_id = 31337\n",
        f"[chain]\nmining_address = '{GOOD_ADDRESS}'\n",
        f"[chain]\nmining_address = '{GOOD_ADDRESS.lower()}'\n",  # all one case: no checksum
        f"[chain]\nmining_address = '0x{GOOD_ADDRESS[2:].upper()}'\n",
        "[api]\ntoken = ''\n",  # generated at config init / first simulate start
        "[api]\ntoken = 'aaaaaaaaaaaaaaaa'\n",
        "[chain]\nrpc_url = 'http://127.0.0.1:8545'\n",
        "[api]\nport = 0\n",
    ],
)
def test_good_values_pass(tmp_path: Path, text: str) -> None:
    path = tmp_path / "posd.toml"
    path.write_text(text)
    configmod.load(path)


def test_the_example_config_passes() -> None:
    configmod.load(ROOT / "config" / "posd.example.toml")


def test_config_check_names_file_key_and_expectation(tmp_path: Path) -> None:
    path = tmp_path / "posd.toml"
    path.write_text("[chain]\nchain_id = -1\n[api]\ntoken = 'x'\n")
    r = subprocess.run(
        [sys.executable, "-m", "posd.cli.main", "--config", str(path), "config", "check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
        timeout=120,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert f"{path}: [chain] chain_id: expected" in out and "got -1" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("value", "ok"), [(0, True), (600, True), (601, False), (3600, False), (-1, False)]
)
def test_membership_tier_cache_is_at_most_ten_minutes(tmp_path: Path, value: int, ok: bool) -> None:
    """DESIGN §11: a tier read from chain is cached up to 10 minutes, never longer."""
    path = tmp_path / "posd.toml"
    path.write_text(f"[membership]\ntier_cache_s = {value}\n")
    if ok:
        assert configmod.load(path).membership.tier_cache_s == value
    else:
        with pytest.raises(ConfigError, match=r"\[membership\] tier_cache_s: expected 0\.\.600"):
            configmod.load(path)
