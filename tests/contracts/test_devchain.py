"""posd.chain.devchain: anvil on loopback, state persistence, recovery from a half-written state file."""

from __future__ import annotations

import json
import logging

import pytest

from posd.chain import devchain
from posd.chain.devchain import Anvil, AnvilError

pytestmark = pytest.mark.anvil


def test_find_anvil_env_override(monkeypatch, tmp_path):
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("POSD_ANVIL", str(fake))
    assert devchain.find_anvil() == str(fake)
    with pytest.raises(AnvilError, match="exited with code 3"):
        Anvil(startup_timeout=5).start()
    monkeypatch.setenv("POSD_ANVIL", str(tmp_path / "missing"))
    with pytest.raises(AnvilError, match="POSD_ANVIL"):
        devchain.find_anvil()


def test_start_rpc_binds_loopback_and_stop():
    with Anvil(block_time=0.5) as node:
        assert node.url.startswith("http://127.0.0.1:")
        assert int(node.rpc("eth_chainId"), 16) == devchain.DEV_CHAIN_ID
        assert "--host" in node.command() and "127.0.0.1" in node.command()
        with pytest.raises(ValueError):
            node.rpc("no_such_method")
    assert not node.running


def test_state_survives_sigterm_and_corrupt_state_is_moved_aside(tmp_path, caplog):
    state = tmp_path / "anvil" / "state.json"
    node = Anvil(state_file=state).start()
    addr = "0x00000000000000000000000000000000000000aa"
    node.rpc("anvil_setBalance", addr, hex(12345))
    node.rpc("evm_mine")
    node.stop()  # SIGTERM: anvil dumps its state
    assert json.loads(state.read_text())
    with Anvil(state_file=state) as again:
        assert int(again.rpc("eth_getBalance", addr, "latest"), 16) == 12345
        again.kill()  # a power cut
    state.write_text('{"block": {"number": "0x')  # a half-written dump
    caplog.set_level(logging.WARNING)
    with Anvil(state_file=state) as fresh:
        assert int(fresh.rpc("eth_blockNumber"), 16) >= 0
    state.write_text("{}")  # valid JSON that anvil cannot load: moved aside after a try
    with Anvil(state_file=state):
        pass
    assert "moved to" in caplog.text
    assert list(state.parent.glob("state.json.corrupt-*"))
    state.write_text("")  # an empty file, too
    with Anvil(state_file=state):
        pass
    assert len(list(state.parent.glob("state.json.corrupt-*"))) >= 2
