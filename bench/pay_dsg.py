"""DSG payment latency and the watcher's idle CPU (DESIGN §10); prints one JSON object.

A real anvil (automine), a real daemon with the API, a shopper whose DSG came from claiming
receipts. Each round starts a payment, sends the transfer (its block), mines the confirming
block and times until the sale is durable (the ``payment_updated`` event that carries its seq):
from the paying transaction's block, and from the confirming block (target: ≤ one poll interval;
p99 ≤ 1 s). Then the daemon idles with an open payment and the process's CPU time is measured.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from helpers.dsg_kit import client, make_dsg_daemon, pay, shopper_with_dsg, start  # noqa: E402
from helpers.flush_kit import deploy_chain  # noqa: E402

from posd.chain.devchain import Anvil  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--poll", type=float, default=1.0, help="[dsg] poll_interval_s")
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Anvil() as anvil:
        chain = deploy_chain(anvil)
        shopper = shopper_with_dsg(chain, Path(tmp) / "miner")
        daemon = make_dsg_daemon(Path(tmp) / "till", chain, poll_interval_s=args.poll)
        c = client(daemon, daemon.start())
        events = daemon.bus.subscribe()
        from_tx, from_confirm = [], []
        try:
            for _ in range(args.rounds):
                payment = start(c, "4006381333931")
                pid = payment["id"]
                pay(chain, shopper, payment["amount_wei"])
                t_tx = time.monotonic()
                chain.mine(1)  # [chain] confirmations = 2: this block confirms it
                t_confirm = time.monotonic()
                while True:
                    ev = events.get(timeout=30)
                    p = ev["data"].get("payment") if ev["kind"] == "payment_updated" else None
                    if p and p["id"] == pid and "seq" in p:
                        done = time.monotonic()
                        break
                from_tx.append(done - t_tx)
                from_confirm.append(done - t_confirm)
            # idle: one payment open, nothing happens on chain
            start(c, "4006381333931")
            time.sleep(1.0)
            cpu0, wall0 = time.process_time(), time.monotonic()
            time.sleep(args.idle_seconds)
            cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        finally:
            daemon.bus.unsubscribe(events)
            daemon.stop()
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "poll_interval_s": args.poll,
                "confirmations": 2,
                "from_tx_block_s": {
                    "p50": _pct(from_tx, 0.5),
                    "p99": _pct(from_tx, 0.99),
                    "max": round(max(from_tx), 4),
                },
                "from_confirming_block_s": {
                    "p50": _pct(from_confirm, 0.5),
                    "p99": _pct(from_confirm, 0.99),
                    "max": round(max(from_confirm), 4),
                },
                "idle_cpu_percent_of_core": round(cpu * 100, 3),
                "idle_note": "whole daemon process (API, spooler, scheduler, watcher) while idle",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
