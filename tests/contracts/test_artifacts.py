"""The committed contracts/build/*.json must equal a fresh compile of the sources."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from posd.chain import contracts

pytestmark = pytest.mark.contracts

ROOT = Path(__file__).resolve().parents[2]


def _compile_module():
    spec = importlib.util.spec_from_file_location(
        "contracts_compile", ROOT / "contracts/compile.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_artifacts_match_fresh_compile():
    compile_mod = _compile_module()
    fresh = compile_mod.build_all()
    for name, text in fresh.items():
        committed = (ROOT / "contracts/build" / f"{name}.json").read_text()
        assert committed == text, f"contracts/build/{name}.json is stale: run contracts/compile.py"


def test_artifacts_load_and_have_the_designed_abi():
    mining = {f["name"]: f for f in contracts.abi(contracts.MINING) if f.get("name")}
    sig = {
        name: [i["type"] for i in mining[name]["inputs"]]
        for name in (
            "registerStore",
            "setRate",
            "addTill",
            "removeTill",
            "commitBatch",
            "commitBatchFor",
            "claim",
            "nextSeq",
            "batchCount",
            "isClaimed",
            "batch",
        )
    }
    assert sig["registerStore"] == ["bytes32", "address", "bytes3", "uint256"]
    assert sig["setRate"] == ["bytes3", "uint256"]
    assert sig["addTill"] == ["bytes32", "address", "uint64", "bytes"]
    assert [i["name"] for i in mining["addTill"]["inputs"]] == [
        "storeId",
        "till",
        "deadline",
        "signature",
    ]
    assert sig["removeTill"] == ["address"]
    assert sig["commitBatch"] == ["uint64", "bytes"]
    assert sig["commitBatchFor"] == ["address", "uint64", "bytes", "bytes"]
    assert sig["claim"] == [
        "address",
        "uint256",
        "uint64",
        "uint48",
        "uint32",
        "address",
        "bytes32[]",
        "address",
        "bytes",
    ]
    assert sig["nextSeq"] == ["address"] and sig["isClaimed"] == ["address", "uint64"]
    assert [o["type"] for o in mining["batch"]["outputs"]] == ["uint64", "uint32", "bytes32"]
    ev = mining["BatchCommitted"]["inputs"]
    assert [(i["name"], i["type"], i["indexed"]) for i in ev] == [
        ("till", "address", True),
        ("batchIndex", "uint256", False),
        ("firstSeq", "uint64", False),
        ("count", "uint32", False),
        ("root", "bytes32", False),
    ]
    ev = mining["Claimed"]["inputs"]
    assert [(i["name"], i["type"], i["indexed"]) for i in ev] == [
        ("till", "address", True),
        ("seq", "uint64", False),
        ("recipient", "address", True),
        ("reward", "uint256", False),
    ]
    art = contracts.load_artifact(contracts.TOKEN)
    assert "fe7100" in art["blueprintBytecode"][:40]  # EIP-5202 preamble in the deployed code


def test_staking_and_test_stable_artifacts_are_built_and_fresh():
    compile_mod = _compile_module()
    assert {"DSGStaking", "TestStable"} <= set(compile_mod.SOURCES)
    staking = {f["name"] for f in contracts.abi(contracts.STAKING) if f.get("type") == "function"}
    assert {
        "stake",
        "requestUnstake",
        "withdraw",
        "claimDividends",
        "notifyProfit",
        "earned",
        "tierOf",
        "stakedOf",
        "cooldown",
        "tierThresholds",
        "setTierThresholds",
        "profitToken",
        "rewardsDuration",
    } <= staking
    stable = {f["name"] for f in contracts.abi(contracts.TEST_STABLE) if f.get("name")}
    assert {"mint", "decimals", "approve", "transferFrom", "balanceOf"} <= stable


def test_every_revert_name_in_the_sources_is_known_to_the_decoder():
    import re

    from posd.chain.reverts import ERROR_NAMES

    for source in ("DSGMining.vy", "DSGToken.vy", "DSGStaking.vy"):
        text = (ROOT / "contracts" / source).read_text()
        names = set(re.findall(r'^\s*(?:assert|\), )[^\n]*"([A-Z][A-Za-z]+)"', text, re.M))
        assert names, source
        assert names <= ERROR_NAMES, (source, names - ERROR_NAMES)
