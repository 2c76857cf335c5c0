#!/usr/bin/env python3
"""Claim gateway benchmark (DESIGN §9) on a real anvil: prints one JSON object.

One `posd gateway` process relays N claims (each for a new DSG holder, never the very first mint)
posted by C concurrent clients. Reported: claims per second (first POST to last claim mined),
p50/p99 from POST to the block holding the claim (a watcher notes when each block appears),
POST→202 latency, and gas per relayed claim. Targets: ≥ 50 claims/s, gas ≤ 83,000.
Usage: .venv/bin/python bench/gateway.py [--claims 300] [--clients 16] [--block-time 0]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from eth_account import Account
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from posd import proof  # noqa: E402
from posd.chain import contracts as C  # noqa: E402
from posd.chain.devchain import DEV_KEYS, Anvil  # noqa: E402
from posd.proof.claimcode import address_of, claim_key  # noqa: E402

TARGETS = {"claims_per_s": 50, "gas_per_claim_new_holder": 83_000}
RELAYER = DEV_KEYS[4]
CONFIG = "[gateway]\nclaims_per_minute = 100000\npoll_interval_s = 0.1\n"


def post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--claims", type=int, default=300)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--block-time", type=float, default=0, help="0: automine")
    args = ap.parse_args()
    n = args.claims
    with Anvil(block_time=args.block_time or None) as anvil, tempfile.TemporaryDirectory() as tmp:
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 60}))
        admin = Account.from_key(DEV_KEYS[0])
        _, mining = C.deploy(w3, admin)
        C.register_store(w3, admin, mining, "Bench", admin.address, "EUR", 10**15, rate=10**16)
        till = Account.create()
        anvil.rpc("anvil_setBalance", till.address, hex(10**21))
        C.add_till_with_key(w3, admin, mining, "Bench", bytes(till.key))
        seed = os.urandom(32)
        total = n + 1  # + one warm-up claim: the very first mint costs more
        seq = 1
        while seq <= total:
            count = min(256, total - seq + 1)
            leaves = [
                proof.Leaf(till.address, s, 100 + s % 900, 1_764_000_000 + s,
                           address_of(claim_key(seed, till.address, s)))
                for s in range(seq, seq + count)
            ]  # fmt: skip
            C.send(w3, till, mining.functions.commitBatch(seq, proof.encode_records(leaves)))
            seq += count

        def body(s: int) -> dict:
            recipient = Account.create().address
            digest = proof.claim_digest(31337, mining.address, till.address, s, recipient)
            sig = proof.sign_digest(claim_key(seed, till.address, s), digest)
            return {"till": till.address, "seq": s, "recipient": recipient,
                    "signature": "0x" + sig.hex()}  # fmt: skip

        bodies = {s: body(s) for s in range(1, total + 1)}
        cfg = Path(tmp) / "gw.toml"
        cfg.write_text(CONFIG)
        proc = subprocess.Popen(
            [sys.executable, "-m", "posd.cli.main", "gateway", "--rpc", anvil.url,
             "--mining", mining.address, "--private-key", RELAYER, "--listen", "127.0.0.1:0",
             "--state-dir", tmp, "--config", str(cfg)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
        )  # fmt: skip
        url = ""
        for line in proc.stdout:
            if line.startswith("gateway: "):
                url = line.split(": ", 1)[1].strip()
            if line.strip() == "ready":
                break
        try:
            status, warm = post(url + "/api/claims", bodies[1])
            assert status == 202, warm
            w3.eth.wait_for_transaction_receipt(warm["tx_hash"], timeout=60)
            seen: dict[int, float] = {}
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    number = w3.eth.block_number
                    for b in range(max(seen, default=number - 1) + 1, number + 1):
                        seen.setdefault(b, time.perf_counter())
                    time.sleep(0.005)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            posted: dict[int, float] = {}
            accepted: dict[int, float] = {}
            hashes: dict[int, str] = {}

            def one(s: int) -> None:
                posted[s] = time.perf_counter()
                status, answer = post(url + "/api/claims", bodies[s])
                accepted[s] = time.perf_counter()
                assert status == 202, answer
                hashes[s] = answer["tx_hash"]

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(one, range(2, total + 1)))
            receipts = {}
            deadline = time.monotonic() + 300
            pending = set(hashes)
            while pending and time.monotonic() < deadline:
                for s in list(pending):
                    try:
                        receipts[s] = w3.eth.get_transaction_receipt(hashes[s])
                        pending.discard(s)
                    except Exception:  # noqa: BLE001 - not mined yet
                        pass
                time.sleep(0.05)
            time.sleep(0.05)
            stop.set()
            watcher.join(5)
            assert not pending, f"{len(pending)} claims not mined"
            mined_at = {
                s: seen.get(r["blockNumber"], time.perf_counter()) for s, r in receipts.items()
            }
            t_end = max(mined_at.values())
            to_mined = [mined_at[s] - posted[s] for s in receipts]
            to_202 = [accepted[s] - posted[s] for s in receipts]
            gas = [int(r["gasUsed"]) for r in receipts.values()]
            assert all(r["status"] == 1 for r in receipts.values())
            out = {
                "claims": len(receipts),
                "clients": args.clients,
                "block_time_s": args.block_time or "automine",
                "claims_per_s": round(len(receipts) / (t_end - t0), 1),
                "post_to_mined_p50_ms": round(pct(to_mined, 0.5) * 1000, 1),
                "post_to_mined_p99_ms": round(pct(to_mined, 0.99) * 1000, 1),
                "post_to_202_p50_ms": round(pct(to_202, 0.5) * 1000, 1),
                "post_to_202_p99_ms": round(pct(to_202, 0.99) * 1000, 1),
                "gas_per_claim_mean": round(statistics.mean(gas)),
                "gas_per_claim_max": max(gas),
                "targets": TARGETS,
            }
            out["ok"] = (
                out["claims_per_s"] >= TARGETS["claims_per_s"]
                and out["gas_per_claim_max"] <= TARGETS["gas_per_claim_new_holder"]
            )
            print(json.dumps(out, indent=2))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
