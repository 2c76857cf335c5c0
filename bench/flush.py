"""Time to flush a 100,000-proof backlog to a local anvil (automine); prints one JSON object.

The backlog is written through the bulk path below: the same rows Register.complete() writes
(sale + proof, claim address from the same HKDF derivation), 10,000 per transaction, so the
benchmark measures the flusher, not the disk's fsync rate (bench/outbox.py measures that).
The store's daily cap is set huge so the cap never stops the flush.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402
from web3 import Web3  # noqa: E402

from posd.chain import contracts  # noqa: E402
from posd.chain.devchain import DEV_KEYS, Anvil  # noqa: E402
from posd.chain.flush import Flusher, flush_all  # noqa: E402
from posd.config import keyfile  # noqa: E402
from posd.config.settings import ChainConfig  # noqa: E402
from posd.db import meta  # noqa: E402
from posd.db.meta import Meta  # noqa: E402
from posd.db.outbox import Outbox  # noqa: E402
from posd.db.store import Store  # noqa: E402
from posd.proof.claimcode import claim_address  # noqa: E402
from posd.till import identity  # noqa: E402

HUGE_CAP = 2**95


def backlog(store: Store, keys: keyfile.TillKeys, n: int) -> None:
    till, seed = keys.address, keys.claim_seed
    t0 = int(time.time())
    chunk = 10_000
    for start in range(1, n + 1, chunk):
        end = min(n, start + chunk - 1)
        with store.transaction() as conn:
            proofs = []
            for seq in range(start, end + 1):
                amount = 100 + (seq * 7919) % 9900
                conn.execute(
                    "INSERT INTO sales(seq, till, started_at, completed_at, currency, total, paid, "
                    "change) VALUES (?, ?, ?, ?, 'EUR', ?, ?, 0)",
                    (seq, till, t0, t0, amount, amount),
                )
                proofs.append((seq, till, amount, t0, claim_address(seed, till, seq)))
            Outbox.enqueue_many(conn, proofs)
            Meta(store).set(meta.NEXT_SEQ, end + 1, conn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--proofs", type=int, default=100_000)
    ap.add_argument("--pipeline", type=int, default=24)
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    directory = Path(args.dir or tempfile.mkdtemp(prefix="posd-flush-bench-"))
    directory.mkdir(parents=True, exist_ok=True)

    with Anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 60}))
        admin = Account.from_key(DEV_KEYS[0])
        _, mining = contracts.deploy(w3, admin)
        contracts.register_store(w3, admin, mining, "Bench", admin.address, "EUR", HUGE_CAP)
        keys = keyfile.generate()
        contracts.add_till_with_key(w3, admin, mining, "Bench", keys.private_key)
        anvil.rpc("anvil_setBalance", keys.address, hex(10**24))

        store = Store(directory / "bench.db")
        identity.bind_new(store, keys)
        t = time.perf_counter()
        backlog(store, keys, args.proofs)
        insert_s = time.perf_counter() - t

        cfg = ChainConfig(
            rpc_url=anvil.url,
            mining_address=mining.address,
            max_batch=args.max_batch,
            confirmations=2,
            max_fee_gwei=1000.0,
        )
        flusher = Flusher(store, keys.private_key, cfg, pipeline=args.pipeline)
        t = time.perf_counter()
        flush_all(flusher, timeout=600)
        committed_s = time.perf_counter() - t
        flush_all(flusher, wait_confirmed=True, timeout=60, mine=lambda: anvil.rpc("evm_mine"))
        confirmed_s = time.perf_counter() - t

        next_seq = int(mining.functions.nextSeq(keys.address).call())
        states = dict(store.query("SELECT state, count(*) FROM proofs GROUP BY state"))
        gas, batches = store.one(
            "SELECT sum(gas_used), count(*) FROM batches WHERE state = 'confirmed'"
        )
        attempts = store.one("SELECT count(*) FROM tx_attempts")[0]
    print(
        json.dumps(
            {
                "proofs": args.proofs,
                "max_batch": args.max_batch,
                "pipeline": args.pipeline,
                "batches": batches,
                "transactions_signed": attempts,
                "backlog_insert_s": round(insert_s, 2),
                "flush_committed_s": round(committed_s, 2),
                "flush_confirmed_s": round(confirmed_s, 2),
                "proofs_per_s": round(args.proofs / committed_s, 1),
                "gas_total": gas,
                "gas_per_proof": round(gas / args.proofs, 1),
                "gas_per_batch": round(gas / batches),
                "chain_next_seq": next_seq,
                "states": states,
                "ok": next_seq == args.proofs + 1 and states == {"confirmed": args.proofs},
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
