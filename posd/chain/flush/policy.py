"""Halts, alerts and the reaction to revert reasons: when the flusher must stop sending.

A halt is persisted (``meta`` ``flush_halt``) so a restarted daemon or `posd flush` honours it:
the daily cap (``CapExceeded``) waits for the UTC day to roll over in *block* time; the contract
refusing this till (``NotTill``, ``Paused``, …) or repeated reverts retry every
``HALT_RETRY_S``; an alert (the chain holds something this till cannot account for) stops it
until a reconcile finds the chain and the outbox agree again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from posd.chain.flush.context import FlushContext, Head
from posd.chain.flush.link import set_link
from posd.db import meta
from posd.errors import Conflict

log = logging.getLogger("posd.chain.flusher")

DAY = 86400
HALT_RETRY_S = 300  # NotTill / Paused / chain mismatch: look again every 5 minutes
CONTRACT_REFUSALS = ("NotTill", "Paused", "BadLength", "BatchTooLarge", "EmptyBatch")


class Halted(Conflict, RuntimeError):
    """The flusher will not send now (cap reached, till not authorised, alert): see link state."""

    code = "flush_halted"


class Policy:
    def __init__(self, ctx: FlushContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.meta = ctx.meta

    def current(self) -> dict[str, Any]:
        """The persisted halt ({} when sending is allowed)."""
        return self.meta.get(meta.FLUSH_HALT)

    def blocked(self, head: Head) -> str | None:
        """The kind of the halt in force (and refresh the link state), or None to go on."""
        halt = self.current()
        if not halt:
            return None
        if halt.get("kind") == "cap_exceeded":
            if head.timestamp >= int(halt["until_block_time"]):
                self.clear("the UTC day rolled over (block time): trying again")
                return None
            set_link(self.store, "cap_exceeded", halt.get("detail", ""))
            return "cap_exceeded"
        if time.time() >= float(halt.get("retry_at", 0)):
            self.clear("retrying after a halt")
            return None
        set_link(self.store, f"error: {halt.get('detail', halt.get('kind'))}")
        return str(halt.get("kind"))

    def halt(self, kind: str, detail: str, **extra: Any) -> None:
        data = {"kind": kind, "detail": detail, "at": time.time(), **extra}
        self.meta.set(meta.FLUSH_HALT, data)
        self.store.log_event("flush_halted", data)
        log.error("flushing stopped: %s: %s", kind, detail)
        if kind == "cap_exceeded":
            set_link(self.store, "cap_exceeded", detail)
        else:
            set_link(self.store, f"error: {detail}")

    def clear(self, why: str) -> None:
        self.meta.delete(meta.FLUSH_HALT)
        self.store.log_event("flush_resumed", {"why": why})
        log.info("flushing resumes: %s", why)

    def alert(self, kind: str, detail: str, **extra: Any) -> None:
        """Something on chain this till cannot account for: stop and tell a human."""
        data = {"kind": kind, "detail": detail, "at": time.time(), **extra}
        self.meta.set(meta.FLUSH_ALERT, data)
        self.store.log_event("chain_alert", data)
        self.halt("alert", f"{kind}: {detail}", retry_at=time.time() + HALT_RETRY_S)

    def clear_alert(self) -> None:
        """The chain and the outbox agree again (after a full reconcile)."""
        if self.meta.delete(meta.FLUSH_ALERT):
            self.store.log_event("chain_alert_cleared", {})

    def react(self, reason: str | None, head: Head) -> None:
        """Act on a revert reason; ``SeqMismatch`` ("already there", or a gap) is the
        reconcile's business and no error."""
        if reason == "CapExceeded":
            until = (head.timestamp // DAY + 1) * DAY
            self.halt(
                "cap_exceeded",
                "the store's daily cap is reached; retrying after the UTC day rolls over",
                until_block_time=until,
            )
        elif reason in CONTRACT_REFUSALS:
            self.halt(reason, f"the contract says {reason}", retry_at=time.time() + HALT_RETRY_S)
