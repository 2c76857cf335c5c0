"""Fixtures of the chain tests: one real anvil with the contracts per test module."""

from __future__ import annotations

import pytest
from helpers.flush_kit import deploy_chain

from posd.chain.devchain import Anvil


@pytest.fixture(scope="module")
def chain():
    with Anvil() as anvil:
        yield deploy_chain(anvil)
