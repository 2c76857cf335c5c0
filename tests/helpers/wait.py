"""One polling helper for tests that wait on another thread, process or node."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    what: str = "condition",
    every: float = 0.05,
    tick: Callable[[], object] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail the test after
    ``timeout`` seconds, naming ``what``. ``tick`` runs between polls (e.g. to mine a block)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        if tick is not None:
            tick()
        time.sleep(every)
