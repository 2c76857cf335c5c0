"""Fixtures of the titanoboa contract tests: a fresh world per test, rolled back after it."""

from __future__ import annotations

import boa
import pytest
from helpers.chainfixtures import World
from helpers.staking_world import Pool


@pytest.fixture
def world():
    """DSGToken and DSGMining with one store (helpers/chainfixtures.py)."""
    with boa.env.anchor():
        yield World.create()


@pytest.fixture
def pool():
    """DSGStaking over a stand-in DSG and a 6-decimal profit token (helpers/staking_world.py)."""
    with boa.env.anchor():
        yield Pool.create()
