"""The claim page's own modules (claim/src, run in node) against tests/vectors.json: the QR payload
(§5) and its rejects, the claim address and the EIP-712 claim signature (§4), the membership pass
(§11) including wallets that answer v as 0/1 or a high s."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors.json"


def run_checker(node: str) -> dict:
    proc = subprocess.run(
        [node, str(Path(__file__).with_name("check_vectors.mjs")), str(VECTORS)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_page_modules_match_the_vectors(claim_node: str) -> None:
    v = json.loads(VECTORS.read_text())
    out = run_checker(claim_node)
    payload = bytes.fromhex(v["qr"]["payload"][2:])
    assert out["qr"] == {
        "chainId": str(v["chain_id"]),
        "mining": v["contract"],
        "till": v["till"],
        "seq": str(int.from_bytes(payload[49:57], "big")),
        "amount": str(int.from_bytes(payload[57:63], "big")),
        "currency": payload[63:66].decode(),
        "time": int.from_bytes(payload[66:70], "big"),
        "claimKey": "0x" + payload[70:].hex(),
    }
    assert [r["why"] for r in out["rejects"]] == [r["why"] for r in v["qr_rejects"]]
    for reject in out["rejects"]:
        assert reject["rejected"], reject
        assert reject["message"], reject
    assert "version 2" in out["rejects"][0]["message"]
    assert "101 bytes" in out["rejects"][1]["message"]
    assert '"*"' in out["rejects"][2]["message"]
    assert out["extra_rejects"] == dict.fromkeys(
        ["padding", "space", "plus", "slash", "percent"], True
    )
    assert out["claim_address"] == v["claim_keys"][0]["claim_address"]
    assert out["claim_signature"] == v["claim_digest"]["signature_by_claim_key"]
    m = v["member_pass"]
    assert out["member_digest"] == m["digest"]
    assert out["member_signature"] == m["signature"]
    assert out["pass"] == m["pass"]
    assert len(out["pass"]) == 168
    assert out["pass_from_v01"] == m["pass"]
    assert out["pass_from_high_s"] == m["pass"]
