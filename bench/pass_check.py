"""The till's membership pass check (DESIGN §11): latency per pass; prints one JSON object.

``check`` is what the issue's target is about: decode (strict base64url), the EIP-712 digest,
signature recovery, chain/contract/time checks, and the member's tier from the SQLite cache
(every member's tier was read less than ``tier_cache_s`` ago). ``accept`` adds what the till
does besides: the durable write to the used-pass list (a WAL commit with synchronous=FULL).
Target: check p99 ≤ 5 ms. Many distinct members and passes, a real SQLite file. Wall time on a
shared machine includes waits for a CPU: ``check_cpu`` (thread CPU time) and the load average
say how much of a tail is the machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posd.config.features import MembershipConfig  # noqa: E402
from posd.db.store import Store  # noqa: E402
from posd.proof.memberpass import MemberPass  # noqa: E402
from posd.till.membership import Membership  # noqa: E402

STAKING = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"
CHAIN_ID = 31337


@dataclass
class ChainCfg:
    rpc_url: str = "http://127.0.0.1:9"  # never asked: every tier is in the cache
    staking_address: str = STAKING


def _quantiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    return {
        "p50_ms": round(pick(0.50), 4),
        "p99_ms": round(pick(0.99), 4),
        "max_ms": round(ms[-1], 4),
        "mean_ms": round(statistics.fmean(ms), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passes", type=int, default=5000)
    parser.add_argument("--members", type=int, default=1000)
    args = parser.parse_args()

    now = time.time()
    keys = [os.urandom(32) for _ in range(args.members)]
    passes = [
        MemberPass.sign(keys[i % len(keys)], CHAIN_ID, STAKING, int(now) + 300 + i // len(keys))
        for i in range(args.passes)
    ]
    texts = [p.text() for p in passes]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "posd.db")
        svc = Membership(store, MembershipConfig(), ChainCfg(), lambda: CHAIN_ID)
        for p in passes[: args.members]:  # every member's tier read a moment ago
            svc.members.remember_tier(STAKING, p.member, 2, now)

        check, check_cpu = [], []
        for text in texts:
            t0, c0 = time.perf_counter(), time.thread_time()
            member_pass = svc.check(text)
            tier, source, _ = svc.tier(member_pass.member)
            check_cpu.append(time.thread_time() - c0)
            check.append(time.perf_counter() - t0)
            assert (tier, source) == (2, "cache")

        accept = []
        for text in texts:
            t0 = time.perf_counter()
            state = svc.accept(text)
            accept.append(time.perf_counter() - t0)
            assert state.tier == 2 and state.source == "cache"
        store.close()

    out = {
        "benchmark": "pass_check",
        "passes": args.passes,
        "members": args.members,
        "check": _quantiles(check),
        # CPU time of the same calls: what the check costs when the machine is not overloaded
        "check_cpu": _quantiles(check_cpu),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "accept_with_durable_used_pass_write": _quantiles(accept),
        "target_check_p99_ms": 5.0,
        "ok": _quantiles(check)["p99_ms"] <= 5.0,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
