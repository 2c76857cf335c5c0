"""Idle memory and start-up of the `posd run --simulate` till daemon; prints one JSON object.

Starts the real command on a fresh state dir, waits for ``ready``, lets it idle, then reads the
daemon process's own resident memory from /proc (its anvil and its claim gateway child are
separate processes and reported apart, not counted). ``heavy_libraries`` lists the native
extensions of the heavy libraries mapped into the daemon: an idle till should map none of them
(web3's aiohttp, PIL, python-escpos's yaml), they load with the first receipt or not at all.

    .venv/bin/python bench/memory.py [--idle 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def heavy_mapped(pid: int) -> list[str]:
    found = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split()[-1]
        if ".so" not in path or "site-packages/" not in path:
            continue
        top = path.split("site-packages/")[1].split("/")[0]
        if top in ("aiohttp", "PIL", "yaml"):
            found.add(top)
    return sorted(found)


def children(pid: int) -> list[dict[str, object]]:
    run = subprocess.run(
        ["ps", "--ppid", str(pid), "-o", "pid=,rss=,args="], capture_output=True, text=True
    )
    out = []
    for line in run.stdout.splitlines():
        cpid, rss, args = line.split(None, 2)
        out.append({"pid": int(cpid), "rss_kb": int(rss), "command": args[:80]})
    return out


def one_round(idle: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as state:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "posd.cli.main", "--state-dir", state, "run", "--simulate"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        try:
            while True:
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit("posd run --simulate ended before ready")
                if line.strip() == "ready":
                    break
            ready_s = time.monotonic() - start
            time.sleep(idle)
            mem = status(proc.pid)
            return {
                "ready_s": round(ready_s, 2),
                "rss_kb": mem["VmRSS"],
                "rss_anon_kb": mem["RssAnon"],
                "rss_file_kb": mem["RssFile"],
                "peak_rss_kb": mem["VmHWM"],
                "threads": mem["Threads"],
                "heavy_libraries": heavy_mapped(proc.pid),
                "children_not_counted": children(proc.pid),
            }
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=float, default=10.0, help="seconds idle after ready")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    rounds = [one_round(args.idle) for _ in range(args.rounds)]
    rss = [r["rss_kb"] for r in rounds]
    print(
        json.dumps(
            {
                "command": "posd run --simulate",
                "idle_s": args.idle,
                "rounds": rounds,
                "rss_mb_median": round(statistics.median(rss) / 1024, 1),
                "rss_mb_max": round(max(rss) / 1024, 1),
                "target_mb": 80,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
