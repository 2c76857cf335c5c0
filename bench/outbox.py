"""Completed sales with proofs per second, durable (WAL, synchronous=FULL), beside the disk's fsync rate.

Prints one JSON object. Each sale is the real path: scan, tender, completion — sale, lines,
payment, proof and print job in one transaction (sales that queue up while a commit waits for
the disk share the next one) — on a real SQLite file in --dir. A sale counts once it is durable.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import deque
from pathlib import Path

from posd.config import keyfile
from posd.db.store import Store
from posd.till import identity
from posd.till.catalog import DEMO_PRODUCTS, Catalog
from posd.till.sale import Register
from posd.till.seqmark import SeqMark


def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def fsync_rate(directory: Path, seconds: float = 2.0) -> float:
    """Appends of one 4 KiB page + fsync per second: the ceiling for durable commits."""
    path = directory / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = b"\0" * 4096
    n, start = 0, time.perf_counter()
    try:
        while time.perf_counter() - start < seconds:
            os.write(fd, block)
            os.fsync(fd)
            n += 1
            if n % 1024 == 0:
                os.lseek(fd, 0, os.SEEK_SET)
    finally:
        os.close(fd)
        path.unlink()
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sales", type=int, default=100_000)
    ap.add_argument("--sequential", action="store_true", help="wait for each sale before the next")
    ap.add_argument("--window", type=int, default=64, help="sales in flight at most")
    ap.add_argument(
        "--no-mark", action="store_true", help="without the high-water mark (to see its cost)"
    )
    ap.add_argument(
        "--dir", type=Path, default=None, help="where the database lives (default: a temp dir)"
    )
    args = ap.parse_args()
    directory = Path(args.dir or tempfile.mkdtemp(prefix="posd-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    ceiling = fsync_rate(directory)

    store = Store(directory / "bench.db")
    catalog = Catalog(store)
    catalog.upsert(DEMO_PRODUCTS)
    keys = keyfile.generate()
    key_path = directory / "till.key"
    keyfile.save(key_path, keys)
    identity.bind_new(store, keys)
    # the high-water mark beside the key file is advanced before each group's COMMIT (DESIGN §2)
    mark = SeqMark.beside(key_path, keys.address)
    guard = None if args.no_mark else identity.SeqGuard(store, key_path, None, mark)
    register = Register(store, catalog, keys, guard=guard)

    rss = []
    pending: deque = deque()
    start = time.perf_counter()
    for i in range(args.sales):
        register.scan("4006381333931")
        register.scan("5000112637922", 2)
        if args.sequential:
            register.pay("cash", 600)
        else:  # the next basket is scanned while this sale's commit waits for the disk
            pending.append(register.pay("cash", 600, wait=False))
            while pending and (pending[0].done() or len(pending) > args.window):
                pending.popleft().result()
        if i % (args.sales // 10 or 1) == 0:
            rss.append(rss_kib())
    for future in pending:
        future.result()
    elapsed = time.perf_counter() - start
    rss.append(rss_kib())
    count = store.one("SELECT count(*) FROM proofs")[0]
    rate = args.sales / elapsed
    print(
        json.dumps(
            {
                "benchmark": "outbox",
                "sales": args.sales,
                "proofs_written": count,
                "seconds": round(elapsed, 2),
                "mode": "sequential" if args.sequential else f"pipelined (window {args.window})",
                "sales_per_s": round(rate),
                "fsync_per_s": round(ceiling),
                "fraction_of_fsync_ceiling": round(rate / ceiling, 3),
                "journal_mode": store.one("PRAGMA journal_mode")[0],
                "synchronous": store.one("PRAGMA synchronous")[0],
                "high_water_mark": mark.read(),
                "rss_kib_samples": rss,
                "rss_growth_kib": rss[-1] - rss[1] if len(rss) > 2 else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
