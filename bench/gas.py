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

from posd import proof  # noqa: E402
from posd.chain import contracts as C  # noqa: E402
from posd.chain.devchain import DEV_KEYS, Anvil  # noqa: E402
from posd.proof.claimcode import address_of, claim_key  # noqa: E402

SIZES = (1, 16, 64, 256)
TARGETS = {"commit_per_proof_256": 1800, "claim_new_holder": 83000, "claim_existing_holder": 66000}
STAKING_TARGETS = {"stake_warm": 70000, "claim_dividends_warm": 60000}

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
            # the till's JoinStore consent (DESIGN §4), then addTill by the store owner
            C.add_till_with_key(w3, admin, mining, "bench", bytes(till.key))
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

        holder = Account.create()  # keeps its key: it funds the staking bench with its DSG
        first_holder = holder.address
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

        staking = bench_staking(w3, anvil, admin, token, holder)

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
        "staking": staking,
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


def bench_staking(w3: Web3, anvil: Anvil, admin, token, holder) -> dict:
    """DSGStaking (DESIGN §11) over the real DSG token, dividends in the 6-decimal test stable.

    "warm" = an account that already stakes (and, for claimDividends, already holds the profit
    token), during a running stream, with a standing (finite) allowance: the steady state.
    """
    stable = C.deploy_test_stable(w3, admin)
    staking = C.deploy_staking(w3, admin, token.address, stable.address, [100 * 10**18])
    stakers = [Account.create() for _ in range(3)]
    fund(anvil, holder.address)
    minted = token.functions.balanceOf(holder.address).call()  # DSG only comes from claims
    gas: dict[str, int] = {}
    for who in stakers:
        fund(anvil, who.address)
        sent = C.send(w3, holder, token.functions.transfer(who.address, minted // 4))
        C.send(w3, who, token.functions.approve(staking.address, minted))  # finite: no shortcut
    # staking keeps its own accumulator: a DSG transfer costs what it did (ERC-20, no hooks)
    gas["dsg_transfer_new_recipient"] = sent["gasUsed"]
    first, warm, other = stakers
    stake = minted // 16

    def later(seconds: int) -> None:  # mined, so the gas estimate sees the new block time
        anvil.rpc("evm_increaseTime", seconds)
        anvil.rpc("evm_mine")

    def tx(name: str, who, call) -> None:
        gas[name] = C.send(w3, who, call)["gasUsed"]

    tx("stake_first_ever", first, staking.functions.stake(stake))  # pool 0 -> non-zero
    tx("stake_new_staker", warm, staking.functions.stake(stake))
    C.send(w3, admin, stable.functions.mint(admin.address, 10**12))
    C.send(w3, admin, stable.functions.approve(staking.address, 10**12))
    tx("notify_profit_first", admin, staking.functions.notifyProfit(10**9))
    later(3600)
    tx("notify_profit_during_stream", admin, staking.functions.notifyProfit(10**9))
    later(3600)
    # the first top-up after a deposit sets the staker's accumulator checkpoint (0 -> non-zero)
    tx("stake_first_accrual", warm, staking.functions.stake(stake))
    later(3600)
    tx("claim_dividends_first", warm, staking.functions.claimDividends())  # 0 -> holder
    later(3600)
    tx("claim_dividends_warm", warm, staking.functions.claimDividends())
    later(3600)
    tx("stake_warm", warm, staking.functions.stake(stake))
    tx("stake_other", other, staking.functions.stake(stake))
    later(3600)
    tx("request_unstake", warm, staking.functions.requestUnstake(stake))
    later(7 * 86400 + 1)
    tx("withdraw", warm, staking.functions.withdraw())
    # recovery (admin): profit streamed into an empty pool plus a surplus sent by mistake
    empty = C.deploy_staking(w3, admin, token.address, stable.address, [])
    C.send(w3, admin, stable.functions.approve(empty.address, 10**9))
    C.send(w3, admin, empty.functions.notifyProfit(10**9))
    later(86400)
    C.send(w3, admin, stable.functions.transfer(empty.address, 10**6))
    tx("recover_profit", admin, empty.functions.recoverProfit(admin.address))
    return {
        "gas": gas,
        "targets": {
            **STAKING_TARGETS,
            "met": {
                "stake_warm": gas["stake_warm"] <= STAKING_TARGETS["stake_warm"],
                "claim_dividends_warm": gas["claim_dividends_warm"]
                <= STAKING_TARGETS["claim_dividends_warm"],
            },
        },
    }


if __name__ == "__main__":
    sys.exit(main())
