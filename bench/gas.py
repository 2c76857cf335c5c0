#!/usr/bin/env python3
"""Gas benchmark of the DSG contracts on a real anvil (Prague): prints one JSON object.

Gas per proof for commitBatch = the transaction's gasUsed (21,000 base and calldata included,
EIP-7623 floor applied by the node) / records, measured on a till's later batch (steady state).
Claims are measured for a new DSG holder and for an existing one (never the very first mint),
and beside them the naive design: one transaction per proof storing its hash.
Usage: .venv/bin/python bench/gas.py [--hardfork prague]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from eth_account import Account
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from posd import contracts as C  # noqa: E402
from posd import proof  # noqa: E402
from posd.claimcode import address_of, claim_key  # noqa: E402
from posd.devchain import DEV_KEYS, Anvil  # noqa: E402

SIZES = (1, 16, 64, 256)
TARGETS = {"commit_per_proof_256": 1800, "claim_new_holder": 83000, "claim_existing_holder": 66000}

NAIVE_SOURCE = """# pragma version ~=0.4.3
# The naive design: one transaction per purchase proof, storing its hash.
proofs: public(HashMap[bytes32, bool])

@external
def record(proofHash: bytes32):
    self.proofs[proofHash] = True
"""


def compile_naive() -> tuple[list, str]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "Naive.vy"
        src.write_text(NAIVE_SOURCE)
        out = subprocess.run(
            [sys.executable, "-m", "vyper", "-f", "abi,bytecode", str(src)],
            capture_output=True,
            text=True,
            check=True,
        )
    abi_text, bytecode = out.stdout.strip().splitlines()
    return json.loads(abi_text), bytecode


def fund(anvil: Anvil, address: str) -> None:
    anvil.rpc("anvil_setBalance", address, hex(10**21))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hardfork", default="prague")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with Anvil(extra_args=["--hardfork", args.hardfork]) as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        admin = Account.from_key(DEV_KEYS[0])
        token, mining = C.deploy(w3, admin)
        C.register_store(w3, admin, mining, "bench", admin.address, "EUR", 10**15, rate=10**15)
        chain_id = w3.eth.chain_id

        def make_batch(till: str, seed: bytes, first: int, n: int) -> list[proof.Leaf]:
            leaves = []
            for s in range(first, first + n):
                leaves.append(
                    proof.Leaf(
                        till=till,
                        seq=s,
                        amount=rng.randint(100, 99_999),  # 1.00 .. 999.99 in minor units
                        time=1_764_000_000 + s * 37,
                        claim_address=address_of(claim_key(seed, till, s)),
                    )
                )
            return leaves

        commit: dict[str, dict] = {}
        keep: dict = {}
        for n in SIZES:
            till = Account.create()
            fund(anvil, till.address)
            C.add_till(w3, admin, mining, "bench", till.address)
            seed = os.urandom(32)
            warm = make_batch(till.address, seed, 1, n)  # first batch: opens the till's state
            C.send(w3, till, mining.functions.commitBatch(1, proof.encode_records(warm)))
            # steady state: the mean over the next three batches (batch meta is packed three
            # per slot and bitmap words hold 232 seqs, so single batches differ a little)
            gases = []
            for b in range(1, 4):
                later = make_batch(till.address, seed, b * n + 1, n)
                records = proof.encode_records(later)
                receipt = C.send(w3, till, mining.functions.commitBatch(b * n + 1, records))
                gases.append(receipt["gasUsed"])
                if b == 1:
                    tx = w3.eth.get_transaction(receipt["transactionHash"])
                    keep_batch = (later, receipt)
            zero = sum(1 for x in bytes(tx["input"]) if x == 0)
            nonzero = len(tx["input"]) - zero
            gas = round(sum(gases) / len(gases))
            commit[str(n)] = {
                "tx_gas_each": gases,
                "per_proof": round(gas / n),
                "per_proof_max": round(max(gases) / n),
                "calldata_bytes": len(tx["input"]),
                "calldata_floor_gas": 21000 + 10 * (zero + 4 * nonzero),
                "calldata_standard_gas": 4 * zero + 16 * nonzero,
            }
            if n == 256:
                keep = {"till": till.address, "seed": seed, "leaves": keep_batch[0], "batch": 1}

        # claims from the 256-record batch (8 siblings per proof)
        leaves = keep["leaves"]
        hashes = [proof.leaf_hash(x) for x in leaves]
        proofs = proof.all_proofs(hashes)
        relayer = Account.from_key(DEV_KEYS[2])

        def claim(i: int, recipient: str) -> int:
            leaf = leaves[i]
            key = claim_key(keep["seed"], keep["till"], leaf.seq)
            digest = proof.claim_digest(chain_id, mining.address, leaf.till, leaf.seq, recipient)
            fn = mining.functions.claim(
                leaf.till,
                keep["batch"],
                leaf.seq,
                leaf.amount,
                leaf.time,
                leaf.claim_address,
                proofs[i],
                recipient,
                proof.sign_digest(key, digest),
            )
            return C.send(w3, relayer, fn)["gasUsed"]

        first_holder = Account.create().address
        claim(0, first_holder)  # the very first mint (totalSupply 0 -> non-zero): not measured
        new_holder = Account.create().address
        claim_new = claim(1, new_holder)
        claim_existing = claim(2, first_holder)
        claim_existing_again = claim(200, new_holder)
        assert token.functions.balanceOf(new_holder).call() > 0

        naive_abi, naive_code = compile_naive()
        naive_receipt = C.send(
            w3, admin, w3.eth.contract(abi=naive_abi, bytecode=naive_code).constructor()
        )
        naive = w3.eth.contract(address=naive_receipt["contractAddress"], abi=naive_abi)
        naive_gas = [
            C.send(w3, admin, naive.functions.record(hashes[i]))["gasUsed"] for i in range(3)
        ]
        naive_per_proof = round(sum(naive_gas) / len(naive_gas))

    per_256 = commit["256"]["per_proof_max"]
    result = {
        "node": "anvil",
        "hardfork": args.hardfork,
        "commit_batch": commit,
        "claim": {
            "new_holder": claim_new,
            "existing_holder": claim_existing,
            "existing_holder_other_word": claim_existing_again,
            "proof_siblings": len(proofs[1]),
        },
        "naive_one_tx_per_proof": {
            "per_proof": naive_per_proof,
            "ratio_naive_over_batch_256": round(naive_per_proof / per_256, 1),
        },
        "targets": {
            **TARGETS,
            "met": {
                "commit_per_proof_256": per_256 <= TARGETS["commit_per_proof_256"],
                "claim_new_holder": claim_new <= TARGETS["claim_new_holder"],
                "claim_existing_holder": max(claim_existing, claim_existing_again)
                <= TARGETS["claim_existing_holder"],
            },
        },
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
