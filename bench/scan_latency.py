"""Scanner latency: bytes written to a pty (read by real pyserial) → item in the sale (API event).

Prints one JSON object with p50/p99/max in milliseconds. The daemon runs in-process with a
serial scanner on the pty's slave side; the time is taken when the `line_added` event — the one
the API streams to the cashier page — reaches a subscriber.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.daemon_util import make_daemon  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scans", type=int, default=2000)
    args = ap.parse_args()
    master, slave = os.openpty()
    state = Path(tempfile.mkdtemp(prefix="posd-scan-"))
    daemon = make_daemon(
        state, [{"kind": "scanner", "driver": "serial", "port": os.ttyname(slave)}]
    )
    daemon.start()
    events = daemon.bus.subscribe()
    deadline = time.monotonic() + 10
    while not any(d["kind"] == "scanner" and d["status"] == "ok" for d in daemon.devices.devices()):
        if time.monotonic() > deadline:
            raise SystemExit("the scanner did not open")
        time.sleep(0.01)
    samples = []
    try:
        for i in range(args.scans):
            if i % 100 == 0:
                daemon.register.cancel()
            t0 = time.perf_counter()
            os.write(master, b"4006381333931\r")
            while True:
                event = events.get(timeout=5)
                if event["kind"] == "line_added":
                    break
            samples.append((time.perf_counter() - t0) * 1000)
    except queue.Empty:
        raise SystemExit(f"scan {len(samples)} never reached the sale") from None
    finally:
        daemon.stop()
        os.close(master)
        os.close(slave)
    samples.sort()

    def pct(p: float) -> float:
        return round(samples[min(len(samples) - 1, int(p / 100 * len(samples)))], 3)

    print(
        json.dumps(
            {
                "benchmark": "scan_latency",
                "scans": len(samples),
                "p50_ms": pct(50),
                "p90_ms": pct(90),
                "p99_ms": pct(99),
                "max_ms": round(samples[-1], 3),
                "target_p99_ms": 2.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
