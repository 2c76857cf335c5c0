"""Shared fixtures: a real SQLite file, a real key file, a register over them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from posd.config import keyfile  # noqa: E402
from posd.db.store import Store  # noqa: E402
from posd.till import identity  # noqa: E402
from posd.till.catalog import DEMO_PRODUCTS, Catalog  # noqa: E402
from posd.till.sale import Register  # noqa: E402


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "posd.db")
    yield s
    s.close()


@pytest.fixture
def till_keys(tmp_path: Path) -> keyfile.TillKeys:
    keys = keyfile.generate()
    keyfile.save(tmp_path / "till.key", keys)
    return keys


@pytest.fixture
def register(store: Store, till_keys: keyfile.TillKeys) -> Register:
    catalog = Catalog(store)
    catalog.upsert(DEMO_PRODUCTS)
    identity.bind_new(store, till_keys)
    return Register(store, catalog, till_keys)
