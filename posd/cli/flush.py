"""`posd flush` and `posd queue`: the outbox on demand, safely beside a running daemon.

Only one process sends for a till key at a time (DESIGN: nonces and seqs are the till's own):
`posd flush` takes the sender lock, waiting for the daemon's current round to end; while it holds
the lock the daemon's rounds stand aside, and they resume by themselves when it exits.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from posd.cli.common import emit, fail, till_db


@click.command("queue")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def queue(obj: Any, as_json: bool) -> None:
    """Proofs by state, the oldest pending age, the chain link and the last error."""
    from posd.chain.flush.link import link_status  # the database stack loads here, not for --help
    from posd.db.batches import queue_status

    with till_db(obj.config) as store:
        status = queue_status(store, link_status(store))
    c = status["counts"]
    age = status["oldest_pending_age_s"]
    link = status["link"]
    text = (
        f"pending {c['pending']}  sending {c['sending']} (requeued {status['requeued']})  "
        f"committed {c['committed']}  confirmed {c['confirmed']}\n"
        f"oldest pending: {'-' if age is None else f'{age:.0f}s'}\n"
        f"link: {link.get('state')}{' (' + link['detail'] + ')' if link.get('detail') else ''}\n"
        f"last error: {status['last_error'] or '-'}"
    )
    if link.get("balance", {}).get("low"):
        text += f"\nLOW GAS BALANCE: about {link['balance']['batches_left']} batches left"
    if link.get("alert"):
        text += f"\nALERT: {link['alert'].get('detail')}"
    emit(status, as_json, text)


@click.command("flush")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds to wait for the daemon's sender to hand over.",
)
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@click.option("--confirm", "wait_confirmed", is_flag=True, help="Also wait until all is confirmed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@click.pass_obj
def flush(
    obj: Any, wait_s: float, timeout: float | None, wait_confirmed: bool, as_json: bool
) -> None:
    """Send every queued proof to the chain now (batches of up to [chain] max_batch)."""
    # the signing and JSON-RPC stack loads here, not for `posd queue` or `posd --help`
    from posd.chain.flush import Flusher, Halted, flush_all
    from posd.chain.flush.link import link_status
    from posd.chain.rpc import LinkDown
    from posd.chain.sender import SenderLock
    from posd.config import keyfile
    from posd.db.batches import Batches, queue_status
    from posd.db.store import Store

    cfg = obj.config
    if not cfg.chain.rpc_url or not cfg.chain.mining_address:
        fail("set [chain] rpc_url and mining_address first (or run a --simulate daemon)", 2)
    keys, _ = keyfile.load_configured(cfg)  # a KeyFileError: "error: …", exit 2 (the root maps it)
    lock = SenderLock(cfg.state_dir)
    if not lock.acquire(timeout=0):
        click.echo(
            f"waiting for the running sender (pid {lock.holder() or '?'}) to hand over…", err=True
        )
        if not lock.acquire(timeout=wait_s):
            fail(f"the sender lock {lock.path} is still held after {wait_s:g}s", 3)
    store = Store(cfg.db_path)
    try:
        flusher = Flusher(store, keys.private_key, cfg.chain)
        total = Batches(store).unsent_count(any_till=True)
        show_bar = total > cfg.chain.max_batch and not as_json and sys.stderr.isatty()
        with click.progressbar(
            length=max(total, 1), label="flushing", file=sys.stderr, hidden=not show_bar
        ) as bar:
            seen = [0]

            def progress(done: int, _total: int) -> None:
                if done > seen[0]:
                    bar.update(done - seen[0])
                    seen[0] = done

            try:
                flush_all(
                    flusher, progress=progress, wait_confirmed=wait_confirmed, timeout=timeout
                )
            except (LinkDown, TimeoutError) as exc:
                fail(
                    f"not finished: {exc} (the queue is kept; run again or let the daemon do it)", 1
                )
            except Halted as exc:
                fail(f"flushing stopped: {exc}", 1)
        status = queue_status(store, link_status(store))
    finally:
        store.close()
        lock.release()
    c = status["counts"]
    emit(
        status,
        as_json,
        f"flushed: committed {c['committed']}, confirmed {c['confirmed']}, "
        f"still pending {c['pending'] + c['sending']}",
    )
