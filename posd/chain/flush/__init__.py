"""Exactly-once delivery of the outbox to the mining contract (DESIGN §3), split by seam.

context (what a round shares) · forming (batch forming + preflight) · inflight (receipts,
reverts, fee-bump replacement) · confirm (depth / finalized) · reconcile (agree with the chain)
· policy (halts, alerts, revert reactions) · link (link health, persisted) · flusher (a round)
· run (flush_once, flush_all, `python -m posd.chain.flush`). Every state change of proofs,
batches and transaction attempts is in posd/db/outbox.py.

The names below load on first use, so reading the link state (``posd.chain.flush.link``, e.g.
for `posd queue`) does not import eth-account and the JSON-RPC stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from posd.chain.flush.context import StepResult
    from posd.chain.flush.flusher import Flusher
    from posd.chain.flush.link import link_status, set_link
    from posd.chain.flush.policy import Halted
    from posd.chain.flush.run import backoff_delays, flush_all, flush_once

_WHERE = {
    "Flusher": "flusher",
    "Halted": "policy",
    "StepResult": "context",
    "backoff_delays": "run",
    "flush_all": "run",
    "flush_once": "run",
    "link_status": "link",
    "set_link": "link",
}
__all__ = [
    "Flusher",
    "Halted",
    "StepResult",
    "backoff_delays",
    "flush_all",
    "flush_once",
    "link_status",
    "set_link",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{where}"), name)
