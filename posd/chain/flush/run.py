"""Running the flusher: one round, a whole backlog, and `python -m posd.chain.flush`."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

from posd.chain.flush.context import StepResult
from posd.chain.flush.flusher import Flusher
from posd.chain.flush.link import set_link
from posd.chain.flush.policy import Halted
from posd.chain.rpc import LinkDown
from posd.db import meta


def backoff_delays(base: float = 1.0, cap: float = 60.0) -> Callable[[int], float]:
    """Exponential backoff with full jitter: attempt n waits up to min(cap, base·2ⁿ)."""

    def delay(attempt: int) -> float:
        return random.uniform(base / 2, min(cap, base * (2**attempt)))

    return delay


def flush_once(flusher: Flusher) -> StepResult:
    """One round (poll, confirm, reconcile if needed, send); LinkDown marks the link offline."""
    try:
        return flusher.step()
    except LinkDown as exc:
        set_link(flusher.ctx.store, "offline", str(exc))
        raise


def flush_all(
    flusher: Flusher,
    *,
    progress: Callable[[int, int], None] | None = None,
    wait_confirmed: bool = False,
    timeout: float | None = None,
    poll_s: float = 0.2,
    mine: Callable[[], None] | None = None,
) -> StepResult:
    """Send until nothing is left to send (and, if asked, until all is confirmed).

    ``progress(done, total)`` counts proofs out of the outbox's hands (committed or confirmed)
    among those outstanding at the start. Offline, it retries with backoff until ``timeout``.
    """
    reads = flusher.ctx.reads
    start = reads.unsent_count()
    total = max(start, 1)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = backoff_delays()
    attempt = 0
    res = StepResult()
    while True:
        try:
            res = flush_once(flusher)
            attempt = 0
        except LinkDown:
            attempt += 1
            wait = delay(attempt)
            if deadline is not None and time.monotonic() + wait > deadline:
                raise
            time.sleep(wait)
            continue
        if progress is not None:
            progress(max(0, start - reads.unsent_count()), total)
        halt = flusher.ctx.meta.get(meta.FLUSH_HALT)
        if halt:
            raise Halted(halt.get("detail", halt.get("kind", "halted")))
        if res.idle and (not wait_confirmed or res.unconfirmed == 0):
            return res
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(
                f"flush did not finish in {timeout}s ({res.inflight} batches in flight, "
                f"{res.unbatched} proofs waiting, {res.unconfirmed} unconfirmed)"
            )
        if res.idle and mine is not None:
            mine()
        if res.formed == 0 and res.committed == 0:
            time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    """`python -m posd.chain.flush`: flush a state dir's outbox under the sender lock, to the end."""
    import argparse

    from eth_utils import to_checksum_address

    from posd.chain.sender import SenderLock
    from posd.config import keyfile
    from posd.config.settings import ChainConfig
    from posd.db.store import Store

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--key-file", type=Path, required=True)
    ap.add_argument("--rpc", required=True)
    ap.add_argument("--mining", required=True)
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--pipeline", type=int, default=16)
    ap.add_argument("--confirmations", type=int, default=1)
    ap.add_argument("--tx-timeout", type=int, default=30)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    keys = keyfile.load(args.key_file)
    cfg = ChainConfig(
        rpc_url=args.rpc,
        mining_address=to_checksum_address(args.mining),
        max_batch=args.max_batch,
        confirmations=args.confirmations,
        tx_timeout_s=args.tx_timeout,
    )
    store = Store(args.db)
    with SenderLock(args.db.parent):
        print("flushing", flush=True)
        flush_all(Flusher(store, keys.private_key, cfg, pipeline=args.pipeline), timeout=600)
    print("done", flush=True)
    return 0
