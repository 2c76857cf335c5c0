"""Fixtures of the chain tests: one real anvil with the contracts per test module."""

from __future__ import annotations

import pytest
from helpers.dsg_kit import shopper_with_dsg
from helpers.flush_kit import deploy_chain

from posd.chain.devchain import Anvil


@pytest.fixture(scope="module")
def chain():
    with Anvil() as anvil:
        yield deploy_chain(anvil)


@pytest.fixture(scope="module")
def shopper(chain, tmp_path_factory):
    """An account holding DSG it claimed from real receipts (the DSG payment tests pay with it)."""
    return shopper_with_dsg(chain, tmp_path_factory.mktemp("miner"))
